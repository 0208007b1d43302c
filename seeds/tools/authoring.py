"""``seeds new``: write a seed revision with its tables frozen as they are at head.

The column definitions come from the database (which must be at head), so the new
revision never depends on today's models and works offline. The project's
``migrations/seed.py.mako`` is the template; Seedchain's own is used when the
project has none.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util import rev_id
from mako.template import Template  # type: ignore[import-untyped]  # mako ships no types

from seeds.errors import ConfigurationError
from seeds.runtime.environment import Environment
from seeds.tools.status import current_heads

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

_PACKAGE_TEMPLATE = Path(__file__).parent / "templates" / "seed.py.mako"


def _type_code(column: sa.Column[Any], imports: set[str]) -> str:
    type_ = column.type
    module = type(type_).__module__
    if module.startswith("geoalchemy2"):
        imports.add("from geoalchemy2 import Geometry")
        kind = getattr(type_, "geometry_type", "GEOMETRY")
        srid = getattr(type_, "srid", -1)
        return f"Geometry({_q(kind)}, srid={srid}, spatial_index=False)"
    try:
        generic = type_.as_generic()
    except NotImplementedError:
        imports.add("from sqlalchemy.dialects import postgresql")
        return f"postgresql.{type_!r}"
    return f"sa.{generic!r}"


def _q(text: str) -> str:
    """A Python string literal as ruff formats it: double quotes, unless the text holds
    double quotes and no single ones (a check on a quoted column: '"order" >= 0')."""
    if '"' in text and "'" not in text:
        return repr(text)
    return json.dumps(text)  # JSON's escapes are Python's


# Names the revision file defines or imports (see the template): a table variable
# named like one would replace it (a table called "seed" or "revision", say).
_TAKEN = frozenset(
    {
        "annotations",
        "Sequence",
        "sa",
        "Geometry",
        "postgresql",
        "SeedContext",
        "seed",
        "revision",
        "down_revision",
        "branch_labels",
        "depends_on",
        "_meta",
        "upgrade",
        "downgrade",
    }
)


def _variable(name: str, taken: Collection[str]) -> str:
    """A Python name for table ``name``'s variable, none of ``taken``.

    A character a name cannot hold becomes an underscore; a keyword or a name the
    file already uses gets a trailing underscore (``class_``), a leading digit a
    leading underscore (``_2fa``).
    """
    variable = "".join(c if f"_{c}".isidentifier() else "_" for c in name)
    if not variable or variable[0].isdigit():
        variable = "_" + variable
    while keyword.iskeyword(variable) or variable in _TAKEN or variable in taken:
        variable += "_"
    return variable


def _call(name: str, parts: list[str], indent: str = "    ") -> str:
    """``name(a, b)`` on one line, or one argument per line when it would be too long."""
    line = f"{indent}{name}({', '.join(parts)}),"
    if len(line) <= 100:
        return line
    inner = "".join(f"{indent}    {part},\n" for part in parts)
    return f"{indent}{name}(\n{inner}{indent}),"


def render_table(table: sa.Table, variable: str, imports: set[str]) -> str:
    """Python source declaring ``table`` as ``sa.Table`` on ``_meta``."""
    lines = [f"{variable} = sa.Table(", f"    {_q(table.name)},", "    _meta,"]
    for column in table.columns:
        parts = [_q(column.name), _type_code(column, imports)]
        if column.identity is not None:
            parts.append("sa.Identity()")
        if column.primary_key:
            parts.append("primary_key=True")
        elif not column.nullable:
            parts.append("nullable=False")
        default = column.server_default
        if default is not None and column.identity is None:
            text = str(getattr(default, "arg", default))
            parts.append(f"server_default=sa.text({_q(text)})")
        lines.append(_call("sa.Column", parts))
    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        if isinstance(constraint, sa.UniqueConstraint):
            lines.append(_call("sa.UniqueConstraint", [_q(c.name) for c in constraint.columns]))
        elif isinstance(constraint, sa.ForeignKeyConstraint):
            local = [e.parent.name for e in constraint.elements]
            remote = [f"{e.column.table.name}.{e.column.name}" for e in constraint.elements]
            lines.append(_call("sa.ForeignKeyConstraint", [json.dumps(local), json.dumps(remote)]))
        elif isinstance(constraint, sa.CheckConstraint):
            check = [f"sa.text({_q(str(constraint.sqltext))})"]
            if constraint.name:
                check.append(f"name={_q(str(constraint.name))}")
            lines.append(_call("sa.CheckConstraint", check))
    # A unique index is as much a promise as a unique constraint: the seed's rows are
    # checked against it before they are written (non-unique indexes do not matter).
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        columns = [c for c in index.columns if isinstance(c, sa.Column)]
        if index.unique and columns and len(columns) == len(index.expressions):
            parts = [_q(str(index.name)), *(_q(c.name) for c in columns), "unique=True"]
            lines.append(_call("sa.Index", parts))
    lines.append(")")
    return "\n".join(lines)


def _next_revision_id(script: ScriptDirectory) -> str:
    ids = [rev.revision for rev in script.walk_revisions()]
    if ids and all(re.fullmatch(r"\d+", i) for i in ids):
        width = max(len(i) for i in ids)
        return str(max(int(i) for i in ids) + 1).zfill(width)
    return rev_id()


def _slug(message: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "seed"


def new_seed_revision(
    config: Config,
    conn: Connection,
    *,
    schema: str | None,
    message: str,
    environments: Sequence[str],
    tables: Sequence[str],
    now: datetime | None = None,
) -> Path:
    """Write a new seed revision after head; return its path.

    Raises:
        ConfigurationError: several heads, a database not at head, an unknown table
            or environment.
    """
    import geoalchemy2  # noqa: F401  (registers reflection of geometry columns)

    envs = [Environment.parse(e, "--env").value for e in environments]
    if not envs or not tables:
        raise ConfigurationError("name at least one environment (--env) and table (--tables)")
    script = ScriptDirectory.from_config(config)
    heads = script.get_heads()
    if len(heads) != 1:
        raise ConfigurationError(
            f"the chain has {len(heads)} heads ({', '.join(heads)}); merge them first "
            "(alembic merge heads)"
        )
    at = current_heads(conn, schema)
    if at != tuple(heads):
        raise ConfigurationError(
            f"the database is at {', '.join(at) or 'base'}, the chain's head is {heads[0]}; "
            "run `alembic upgrade head` first so the frozen tables are the tables at head"
        )
    inspector = sa.inspect(conn)
    known = set(inspector.get_table_names(schema=schema))
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise ConfigurationError(f"no table {unknown} in the database; it has {sorted(known)}")
    metadata = sa.MetaData()
    imports: set[str] = set()
    rendered = []
    variables: list[str] = []
    for name in tables:
        table = sa.Table(name, metadata, autoload_with=conn, schema=schema)
        table.schema = None  # the schema is chosen per run, through the search path
        variable = _variable(name, variables)
        variables.append(variable)
        rendered.append(render_table(table, variable, imports))
    revision = _next_revision_id(script)
    project_template = Path(script.dir) / "seed.py.mako"
    template = project_template if project_template.is_file() else _PACKAGE_TEMPLATE
    source = Template(filename=str(template)).render(
        message=message,
        up_revision=revision,
        down_revision=heads[0],
        up_revision_code=_q(revision),
        down_revision_code=_q(heads[0]),
        create_date=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S"),
        environments=envs,
        environments_code=json.dumps(envs),
        imports=sorted(imports),
        tables=rendered,
        table_vars=variables,
    )
    path = Path(script.versions) / f"{revision}_{_slug(message)}.py"
    path.write_text(source)
    return path
