"""Anonymize a restored copy: personal columns rewritten deterministically under a key.

Which columns, and what they hold, is project configuration (``[tool.seeds.anonymize]``
in pyproject.toml, ``"table.column" = "kind"``). Every non-NULL value is replaced by a
fake one picked by ``HMAC-SHA256(key, kind + value)`` from value pools built once from
Faker with a fixed seed, so:

- the mapping depends only on the key, the kind and the value: the same e-mail address
  becomes the same fake address in every table and column of kind ``email``, which
  keeps joins (and foreign keys) on personal columns intact, and a second run with
  the same key over the same data gives the same result;
- without the key the mapping cannot be recomputed, so a fake value cannot be traced
  back by hashing guessed originals. Equal values stay equal, though, so frequencies
  survive (the most common first name is still the most common one); that is the
  price of joins that still work;
- a kind used by any unique column (constraint or unique index, expression and
  partial ones included) gets a 64-bit suffix from the HMAC on *every* column of that
  kind, so unique columns stay unique (a collision needs ~5 billion distinct values to
  reach even odds) and cross-column equality still holds;
- e-mail addresses only ever use the reserved domains example.com/.net/.org and phone
  numbers the fictional +1-555-01xx range, so a copy can never mail or call anybody.

The whole run is one transaction in keyset-paginated batches (an executemany UPDATE
keyed by the primary key per batch): a failure, including a unique violation the
database still reports, leaves the database exactly as it was. A database is only
rewritten when ``seed_ledger_events`` says it is a copy; ``mark_copy=<database name>``
records that (in the same transaction). The pools come from Faker's data, so pinning
the Faker version pins the mapping.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import time
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from seeds import ledger
from seeds.dialects import impl_for
from seeds.errors import AnonymizeError, ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

KEY_ENV = "SEEDS_ANONYMIZE_KEY"
DEFAULT_BATCH_SIZE = 5000
# 128 bits: a short key could be found by trying keys against a known original.
MIN_KEY_BYTES = 16

# Changing the seed or the draw count changes every mapping: they are part of the format.
_POOL_SEED = 20260101
_POOL_DRAWS = 2000
# 16 hex digits = 64 bits: among 10 million distinct values the chance of any
# collision is about 1 in 370,000 (even odds need 5 billion); the database still has
# the last word. Hex, not base 32: it is several times cheaper per row in Python.
_SUFFIX_CHARS = 16
_PHONE_DIGITS = 20  # 2**64 < 10**20
# Repeated values (first names, cities of text) are mapped once; bounded, as the
# unique ones never repeat.
_CACHE_SIZE = 1 << 16
_DOMAINS = ("example.com", "example.net", "example.org")  # RFC 2606: never delivered
_LONGEST_DOMAIN = max(len(d) for d in _DOMAINS)
# A fake equal to its original is re-picked; after this many tries the pools are useless.
_MAX_ATTEMPTS = 64

Progress = Callable[[str, int, int], None]
"""``progress(table, rows_done, rows_total)``, called after every batch."""


class Kind(enum.StrEnum):
    """What a personal column holds, which decides what replaces it."""

    EMAIL = "email"
    USER_NAME = "user_name"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    NAME = "name"
    PHONE = "phone"
    TEXT = "text"
    NULL = "null"


# Free text is truncated per column; every other kind to the shortest column of its
# kind, so a value maps to the same fake in all of them.
_PER_COLUMN_LIMIT = frozenset({Kind.TEXT})
_SEPARATOR = {Kind.EMAIL: ".", Kind.USER_NAME: ".", Kind.PHONE: " x"}


@dataclass(frozen=True)
class ColumnRule:
    """One personal column and its kind (``"users.email" = "email"``)."""

    table: str
    column: str
    kind: Kind

    @property
    def name(self) -> str:
        """``table.column``."""
        return f"{self.table}.{self.column}"


def parse_rules(raw: Mapping[str, Any], source: str = "[tool.seeds.anonymize]") -> list[ColumnRule]:
    """Turn ``{"users.email": "email", ...}`` into rules; bad entries are named with the fix.

    Raises:
        ConfigurationError: an entry is not ``"table.column" = "kind"`` or names an
            unknown kind.
    """
    rules = []
    kinds = ", ".join(k.value for k in Kind)
    for key, value in raw.items():
        table, dot, column = key.rpartition(".")
        if not dot or not table or not column:
            raise ConfigurationError(
                f'{source}: key {key!r} is not "table.column"; e.g. "users.email" = "email"'
            )
        if not isinstance(value, str) or value not in {k.value for k in Kind}:
            raise ConfigurationError(
                f"{source}: {key} = {value!r} is not a kind Seedchain knows; use one of: {kinds}"
            )
        rules.append(ColumnRule(table, column, Kind(value)))
    if not rules:
        raise ConfigurationError(
            f'{source} lists no columns; add the personal ones, e.g. "users.email" = "email"'
        )
    return rules


def load_rules(project_root: Path) -> list[ColumnRule]:
    """The rules in ``[tool.seeds.anonymize]`` of the project's pyproject.toml."""
    path = project_root / "pyproject.toml"
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConfigurationError(f"{path} is missing; anonymize reads its columns there") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(f"{path} is not valid TOML ({err}); fix the file") from err
    section = document.get("tool", {}).get("seeds", {}).get("anonymize")
    if not isinstance(section, dict):
        raise ConfigurationError(
            f"{path} has no [tool.seeds.anonymize] table; list the personal columns there, "
            'e.g. "users.email" = "email"'
        )
    return parse_rules(section, f"{path.name} [tool.seeds.anonymize]")


def load_key(environ: Mapping[str, str], key_file: str | Path | None = None) -> bytes:
    """The secret key: the contents of ``key_file``, else ``$SEEDS_ANONYMIZE_KEY``.

    Surrounding whitespace (a file's trailing newline) is not part of the key.

    Raises:
        ConfigurationError: no key, an unreadable file, or a key shorter than 16 bytes.
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as err:
            raise ConfigurationError(f"cannot read the key file {key_file}: {err}") from err
        source = f"key file {key_file}"
    else:
        key = environ.get(KEY_ENV, "").strip().encode()
        source = KEY_ENV
        if not key:
            raise ConfigurationError(
                f"no anonymization key: set {KEY_ENV} or pass --key-file; the same key "
                "gives the same fake values, so keep it secret and keep it"
            )
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"the key from {source} is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "(e.g. `openssl rand -hex 32`)"
        )
    return key


def mask(value: str | None) -> str:
    """A personal value shown without giving it away: first character and stars."""
    if value is None:
        return "NULL"
    local, at, domain = value.partition("@")
    if at:
        return f"{local[:1]}***@{domain[:1]}***"
    return f"{value[:1]}***" if value else "''"


@dataclass(frozen=True)
class _Pools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    user_names: tuple[str, ...]
    words: tuple[str, ...]


@cache
def _pools() -> _Pools:
    """The value pools, built once per process (about half a second), never per row."""
    from faker import Faker  # late: importing Faker is slow and only anonymize needs it

    def draw(fake: Faker, method: str) -> tuple[str, ...]:
        # Sorted, so the pool does not depend on the order Faker produced the values in.
        return tuple(sorted({getattr(fake, method)() for _ in range(_POOL_DRAWS)}))

    people = Faker("en_US")
    people.seed_instance(_POOL_SEED)
    lorem = Faker("la")
    lorem.seed_instance(_POOL_SEED)
    return _Pools(
        first_names=draw(people, "first_name"),
        last_names=draw(people, "last_name"),
        user_names=draw(people, "user_name"),
        words=draw(lorem, "word"),
    )


class _HmacSha256:
    """HMAC-SHA256 under one key, with the padded key hashed once, not once per value.

    RFC 2104 by hand because ``hmac.digest`` re-derives the pads on every call, which
    costs three times the hash itself at millions of values.
    """

    def __init__(self, key: bytes) -> None:
        block = 64
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class Pseudonymizer:
    """Maps personal values to fake ones: a pure function of (key, kind, value).

    Args:
        key: The secret key.
        unique: Kinds that get a suffix from the HMAC (those used by a unique column).
        limits: Longest value per kind (the shortest column of the kind).

    Example::

        fake = Pseudonymizer(key, unique={Kind.EMAIL})
        fake.value(Kind.EMAIL, "ada@lovelace.org")  # 'kbrown.1f09...@example.net'
    """

    def __init__(
        self,
        key: bytes,
        *,
        unique: Collection[Kind] = (),
        limits: Mapping[Kind, int] | None = None,
    ) -> None:
        self._hmac = _HmacSha256(key)
        self._unique = frozenset(unique)
        self._limits = dict(limits or {})
        self._pools = _pools()
        self._prefixes = {kind: kind.value.encode() + b"\x00" for kind in Kind}
        self._cached = lru_cache(maxsize=_CACHE_SIZE)(self._compute)

    def is_unique(self, kind: Kind) -> bool:
        """True when values of ``kind`` carry a suffix that keeps them unique."""
        return kind in self._unique

    def value(self, kind: Kind, original: str | None, limit: int | None = None) -> str | None:
        """The fake for ``original``; None for NULL and for kind ``null``.

        Args:
            kind: What the value is.
            original: The personal value.
            limit: The column's length limit, for free text (other kinds use the
                limit of their kind, so equal values stay equal across columns).
        """
        if original is None or kind is Kind.NULL:
            return None
        if kind not in _PER_COLUMN_LIMIT:
            limit = self._limits.get(kind)
        return self._cached(kind, original, limit)

    def _compute(self, kind: Kind, original: str, limit: int | None) -> str:
        message = self._prefixes[kind] + original.encode("utf-8", "surrogatepass")
        digest = self._hmac.digest(message)
        pick = int.from_bytes(digest[:8], "big")
        for attempt in range(_MAX_ATTEMPTS):
            fake = self._build(kind, digest, pick + attempt, original, limit)
            if fake != original:
                return fake
        raise AnonymizeError(
            f"every fake {kind} tried equals a value of {len(original)} characters"
        )

    def _build(self, kind: Kind, digest: bytes, pick: int, original: str, limit: int | None) -> str:
        pools = self._pools
        other = int.from_bytes(digest[8:16], "big")
        suffix = _suffix(kind, digest) if kind in self._unique else ""
        if kind is Kind.EMAIL:
            domain = _DOMAINS[other % len(_DOMAINS)]
            room = None if limit is None else limit - len(domain) - 1
            local = _fit(pools.user_names[pick % len(pools.user_names)], suffix, kind, room)
            return f"{local}@{domain}"
        if kind is Kind.USER_NAME:
            base = pools.user_names[pick % len(pools.user_names)]
        elif kind is Kind.FIRST_NAME:
            base = pools.first_names[pick % len(pools.first_names)]
        elif kind is Kind.LAST_NAME:
            base = pools.last_names[pick % len(pools.last_names)]
        elif kind is Kind.NAME:
            first = pools.first_names[pick % len(pools.first_names)]
            base = f"{first} {pools.last_names[other % len(pools.last_names)]}"
        elif kind is Kind.PHONE:
            base = f"+1-555-01{pick % 100:02d}"
        else:
            # Free text keeps its length (at least one character), within the column's.
            target = max(1, len(original) if limit is None else min(len(original), limit))
            base = self._lorem(digest, pick, target)
        return _fit(base, suffix, kind, limit)

    def _lorem(self, digest: bytes, pick: int, longest: int) -> str:
        words = self._pools.words
        # Every word takes at least two characters with its space, so this many suffice.
        count = max(1, longest // 2 + 1)
        stream = hashlib.shake_256(digest + pick.to_bytes(8, "big")).digest(2 * count)
        chosen = []
        length = 0
        for index in range(count):
            word = words[int.from_bytes(stream[2 * index : 2 * index + 2], "big") % len(words)]
            chosen.append(word)
            length += len(word) + 1
            if length > longest:
                break
        text = " ".join(chosen)
        if len(text) > longest:
            # End on a whole word when there is one to end on.
            cut = text[: longest + 1].rsplit(" ", 1)[0] if " " in text[:longest] else ""
            text = cut or text[:longest]
        return text[:1].upper() + text[1:]


def _suffix(kind: Kind, digest: bytes) -> str:
    """64 bits of the HMAC that the picks do not use: hex, or decimal for phones."""
    if kind is Kind.PHONE:
        return f"{int.from_bytes(digest[16:24], 'big'):0{_PHONE_DIGITS}d}"
    return digest[16:24].hex()


def _fit(base: str, suffix: str, kind: Kind, limit: int | None) -> str:
    """``base`` (shortened to fit ``limit``) with the suffix kept whole."""
    tail = f"{_SEPARATOR.get(kind, ' ')}{suffix}" if suffix else ""
    if limit is not None:
        base = base[: max(1, limit - len(tail))]
    return base + tail


def _shortest(kind: Kind, unique: bool) -> int:
    """The shortest column a kind's values fit in."""
    digits = _PHONE_DIGITS if kind is Kind.PHONE else _SUFFIX_CHARS
    tail = len(_SEPARATOR.get(kind, " ")) + digits
    needed = 1 + (tail if unique else 0)
    if kind is Kind.EMAIL:
        needed += 1 + _LONGEST_DOMAIN
    elif kind is Kind.PHONE and not unique:
        needed = len("+1-555-0100")
    return needed


@dataclass(frozen=True)
class ColumnReport:
    """What anonymizing one column did (or, in a dry run, would do).

    Attributes:
        rows: Rows in the table.
        changed: Rows whose value changed (every non-NULL one).
        samples: A few ``(masked original, fake)`` pairs.
    """

    table: str
    column: str
    kind: Kind
    unique: bool
    rows: int
    changed: int
    samples: tuple[tuple[str, str | None], ...]

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "table": self.table,
            "column": self.column,
            "kind": self.kind.value,
            "unique": self.unique,
            "rows": self.rows,
            "changed": self.changed,
            "samples": [list(pair) for pair in self.samples],
        }


@dataclass(frozen=True)
class AnonymizeReport:
    """The outcome of one run.

    Attributes:
        database: The database's name.
        dry_run: Nothing was changed.
        marked_copy: This run recorded the copy mark (``mark_copy``).
        is_copy: The database is marked as a copy (before or by this run).
        rows: Rows rewritten (or that would be).
        seconds: Wall time of the run.
    """

    database: str
    schema: str | None
    dry_run: bool
    marked_copy: bool
    is_copy: bool
    columns: tuple[ColumnReport, ...]
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Rows rewritten per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "database": self.database,
            "schema": self.schema,
            "dry_run": self.dry_run,
            "marked_copy": self.marked_copy,
            "is_copy": self.is_copy,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
            "columns": [c.as_json() for c in self.columns],
        }


@dataclass(frozen=True)
class _TablePlan:
    """One table to rewrite: its primary key and its personal columns."""

    table: sa.Table
    key: tuple[sa.Column[Any], ...]
    rules: tuple[ColumnRule, ...]
    limits: tuple[int | None, ...]


def is_marked_copy(conn: Connection, database: str) -> bool:
    """True when ``seed_ledger_events`` holds a copy mark naming this database.

    The name must match, so a marked copy restored under another name (or back into
    production) is not a copy any more.
    """
    events = ledger.events
    if not sa.inspect(conn).has_table(events.name):
        return False
    mark = sa.select(events.c.id).where(
        events.c.kind == ledger.EventKind.COPY.value, events.c.database == database
    )
    return conn.scalar(mark.limit(1)) is not None


def anonymize(
    conn: Connection,
    rules: Sequence[ColumnRule],
    key: bytes,
    *,
    schema: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    mark_copy: str | None = None,
    progress: Progress | None = None,
    samples: int = 3,
) -> AnonymizeReport:
    """Rewrite the personal columns of a copy, in one transaction this function owns.

    Args:
        conn: A connection outside any transaction.
        rules: The personal columns (see :func:`load_rules`).
        key: The secret key (see :func:`load_key`).
        schema: The schema of the tables, or None for the connection's default.
        batch_size: Rows per keyset batch (one SELECT and one executemany UPDATE).
        dry_run: Read and report, in a read-only transaction; nothing is written.
        mark_copy: The database's name, to mark it as a copy first (recorded in
            ``seed_ledger_events``, created when missing).
        progress: Called after every batch.
        samples: ``(masked original, fake)`` pairs to report per column.

    Raises:
        AnonymizeError: the configuration does not fit the database, the database is
            not marked as a copy, or the database refused a value; nothing was changed.
        ConfigurationError: bad arguments.
    """
    if batch_size < 1:
        raise ConfigurationError(f"batch size {batch_size} is not a positive number of rows")
    if conn.in_transaction():
        # One transaction is the promise (all or nothing); a caller's would dilute it.
        raise ConfigurationError(
            "anonymize runs its own transaction; pass a connection outside one"
        )
    started = time.perf_counter()
    with conn.begin() as transaction:
        if dry_run:
            # First statement of the transaction: one snapshot, and a guarantee of no writes.
            conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        database = impl_for(conn.dialect.name).database_name(conn)
        if mark_copy is not None and mark_copy != database:
            raise AnonymizeError(
                f"--mark-copy {mark_copy!r} names another database; this one is {database!r}. "
                "The mark must name the database it is meant for"
            )
        plans, fake = _plan(conn, rules, key, schema)
        is_copy = is_marked_copy(conn, database)
        marked = False
        if not dry_run:
            if not is_copy and mark_copy is None:
                raise AnonymizeError(
                    f"database {database!r} is not marked as a copy and anonymize rewrites "
                    f"personal data in place; if it is a copy, pass --mark-copy {database}"
                )
            if not is_copy:
                _record_copy(conn, database)
                marked = is_copy = True
            # Deferrable foreign keys between personal columns are checked at the end,
            # when both sides hold the fake value again.
            conn.execute(sa.text("SET CONSTRAINTS ALL DEFERRED"))
        reports: list[ColumnReport] = []
        rows = 0
        for plan in plans:
            table_reports, table_rows = _run_table(
                conn, plan, fake, batch_size, dry_run, progress, samples
            )
            reports.extend(table_reports)
            rows += table_rows
        if dry_run:
            transaction.rollback()
        else:
            # Deferred checks run here, inside the error mapping, not at COMMIT.
            _guard(conn, None, sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
            detail = ", ".join(f"{r.table}.{r.column}={r.kind}" for r in reports)
            done = f"{rows} rows: {detail}"
            conn.execute(_event(ledger.EventKind.ANONYMIZE, conn, database, done))
    seconds = time.perf_counter() - started
    log.info("anonymize %s: %d rows in %.2fs (dry run: %s)", database, rows, seconds, dry_run)
    return AnonymizeReport(
        database=database,
        schema=schema,
        dry_run=dry_run,
        marked_copy=marked,
        is_copy=is_copy,
        columns=tuple(reports),
        rows=rows,
        seconds=seconds,
    )


def _record_copy(conn: Connection, database: str) -> None:
    for statement in ledger.create_statements():
        conn.execute(statement)
    conn.execute(_event(ledger.EventKind.COPY, conn, database, "marked by seeds anonymize"))
    log.warning("marked database %r as a copy (--mark-copy)", database)


def _event(kind: ledger.EventKind, conn: Connection, database: str, detail: str) -> sa.Insert:
    # The environment column says what the database was seeded as; a copy of production
    # is still stamped production, and an unstamped database says so.
    stamp = ledger.read_stamp(conn)
    return ledger.events.insert().values(
        kind=kind.value,
        at=sa.func.current_timestamp(),
        environment=stamp.value if stamp else "unstamped",
        database=database,
        detail=detail,
    )


def _plan(
    conn: Connection, rules: Sequence[ColumnRule], key: bytes, schema: str | None
) -> tuple[list[_TablePlan], Pseudonymizer]:
    """Check every rule against the database and build the per-table work; no writes."""
    inspector = sa.inspect(conn)
    by_table: dict[str, list[ColumnRule]] = {}
    for rule in rules:
        by_table.setdefault(rule.table, []).append(rule)
    kinds = {rule.name: rule.kind for rule in rules}
    unique_kinds: set[Kind] = set()
    limits: dict[Kind, int] = {}
    lengths: dict[ColumnRule, int | None] = {}
    plans = []
    for name, table_rules in by_table.items():
        if not inspector.has_table(name, schema=schema):
            where = f" in schema {schema!r}" if schema else ""
            raise AnonymizeError(f"no such table{where}; fix [tool.seeds.anonymize]", table=name)
        columns = {c["name"]: c for c in inspector.get_columns(name, schema=schema)}
        key_names = list(inspector.get_pk_constraint(name, schema=schema)["constrained_columns"])
        if not key_names:
            raise AnonymizeError("has no primary key, which keyed batches need", table=name)
        unique = _unique_columns(inspector, name, schema)
        column_limits: list[int | None] = []
        for rule in table_rules:
            column = columns.get(rule.column)
            if column is None:
                raise AnonymizeError(
                    f"no such column (the table has: {', '.join(columns)}); "
                    "fix [tool.seeds.anonymize]",
                    table=name,
                    column=rule.column,
                )
            _check_column(rule, column, key_names)
            length = getattr(column["type"], "length", None)
            column_limits.append(length)
            lengths[rule] = length
            if rule.column in unique and rule.kind is not Kind.NULL:
                unique_kinds.add(rule.kind)
            if length is not None and rule.kind not in _PER_COLUMN_LIMIT:
                limits[rule.kind] = min(length, limits.get(rule.kind, length))
        table = sa.Table(
            name,
            sa.MetaData(),
            *(sa.Column(c, columns[c]["type"], primary_key=True) for c in key_names),
            *(
                sa.Column(r.column, columns[r.column]["type"])
                for r in table_rules
                if r.column not in key_names
            ),
            schema=schema,
        )
        plans.append(
            _TablePlan(
                table,
                tuple(table.c[c] for c in key_names),
                tuple(table_rules),
                tuple(column_limits),
            )
        )
    _check_foreign_keys(inspector, schema, kinds)
    _check_lengths(lengths, unique_kinds, limits)
    return plans, Pseudonymizer(key, unique=unique_kinds, limits=limits)


def _check_column(rule: ColumnRule, column: Mapping[str, Any], key_names: list[str]) -> None:
    if rule.column in key_names:
        raise AnonymizeError(
            "is part of the primary key, which the batches are keyed by; it cannot be rewritten",
            table=rule.table,
            column=rule.column,
        )
    if rule.kind is Kind.NULL:
        if not column["nullable"]:
            raise AnonymizeError(
                "is NOT NULL, so kind null cannot clear it; choose another kind",
                table=rule.table,
                column=rule.column,
            )
    elif not isinstance(column["type"], sa.String):
        raise AnonymizeError(
            f"is {column['type']}, not text; kind {rule.kind} writes text (kind null clears any)",
            table=rule.table,
            column=rule.column,
        )


def _unique_columns(inspector: sa.Inspector, table: str, schema: str | None) -> set[str]:
    """Columns in any unique constraint or unique index (expression and partial ones too).

    An expression index (``lower(email)``) only gives its text; a column named in it
    counts, which at worst adds a suffix where none was needed.
    """
    names: set[str] = set()
    for constraint in inspector.get_unique_constraints(table, schema=schema):
        names.update(constraint["column_names"])
    expressions: list[str] = []
    for index in inspector.get_indexes(table, schema=schema):
        if index["unique"]:
            names.update(c for c in index["column_names"] if c is not None)
            expressions.extend(e for e in index.get("expressions", []) or [] if e)
    columns = [c["name"] for c in inspector.get_columns(table, schema=schema)]
    for column in columns:
        pattern = re.compile(rf'(?<![\w"]){re.escape(column)}(?![\w"])|"{re.escape(column)}"')
        if any(pattern.search(expression) for expression in expressions):
            names.add(column)
    return names


def _check_foreign_keys(
    inspector: sa.Inspector, schema: str | None, kinds: Mapping[str, Kind]
) -> None:
    """Both sides of a foreign key on a personal column must map the same way, deferrably.

    Value-based mapping gives both sides the same fake, but each side is rewritten by
    its own statement, so the constraint may only be checked at the end.
    """
    for (_, table), foreign_keys in inspector.get_multi_foreign_keys(schema=schema).items():
        for fk in foreign_keys:
            if fk["referred_schema"] not in (None, schema):
                continue
            pairs = zip(fk["constrained_columns"], fk["referred_columns"], strict=True)
            for local, remote in pairs:
                here = f"{table}.{local}"
                there = f"{fk['referred_table']}.{remote}"
                if here not in kinds and there not in kinds:
                    continue
                if kinds.get(here) != kinds.get(there):
                    raise AnonymizeError(
                        f"{here} references {there} (foreign key {fk['name']}), so both must be "
                        f"anonymized with the same kind (now: {kinds.get(here) or 'not listed'} "
                        f"and {kinds.get(there) or 'not listed'}); fix [tool.seeds.anonymize]"
                    )
                options = fk.get("options", {})
                action = str(options.get("onupdate") or "NO ACTION").upper()
                if not options.get("deferrable") or action != "NO ACTION":
                    raise AnonymizeError(
                        f"foreign key {fk['name']} ({here} -> {there}) must be DEFERRABLE with "
                        f"ON UPDATE NO ACTION (it is {'' if options.get('deferrable') else 'not '}"
                        f"deferrable, ON UPDATE {action}) for both sides to change in one "
                        "transaction; alter it on this copy first"
                    )


def _check_lengths(
    lengths: Mapping[ColumnRule, int | None],
    unique_kinds: Collection[Kind],
    limits: Mapping[Kind, int],
) -> None:
    """Every fake must fit its column whole (a cut suffix would no longer be unique)."""
    for rule, length in lengths.items():
        if rule.kind is Kind.NULL:
            continue
        limit = length if rule.kind in _PER_COLUMN_LIMIT else limits.get(rule.kind)
        unique = rule.kind in unique_kinds
        needed = _shortest(rule.kind, unique)
        if limit is not None and limit < needed:
            why = " (unique values carry a suffix from the key)" if unique else ""
            raise AnonymizeError(
                f"the {rule.kind} values written here may be {limit} characters long "
                f"(the shortest column of the kind); they need at least {needed}{why}",
                table=rule.table,
                column=rule.column,
            )


def _run_table(
    conn: Connection,
    plan: _TablePlan,
    fake: Pseudonymizer,
    batch_size: int,
    dry_run: bool,
    progress: Progress | None,
    sample_count: int,
) -> tuple[list[ColumnReport], int]:
    """Keyset batches over one table: read, map, and (unless a dry run) write back."""
    table, key = plan.table, plan.key
    personal = [table.c[r.column] for r in plan.rules]
    total = conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
    select = sa.select(*key, *personal).order_by(*key).limit(batch_size)
    # Bound parameters only; the prefix keeps them apart from the table's column names.
    update = (
        table.update()
        .where(*(column == sa.bindparam(f"_anon_k{i}") for i, column in enumerate(key)))
        .values({c.name: sa.bindparam(f"_anon_v{j}") for j, c in enumerate(personal)})
    )
    changed = [0] * len(personal)
    samples: list[list[tuple[str, str | None]]] = [[] for _ in personal]
    done = 0
    rewritten = 0
    last: tuple[Any, ...] | None = None
    log.info("anonymize %s: %d rows, batches of %d", table.name, total, batch_size)
    while True:
        query = select
        if last is not None:
            # Keyset pagination: each batch starts after the last key of the one before.
            start = sa.tuple_(*key) > sa.tuple_(*last) if len(key) > 1 else key[0] > last[0]
            query = query.where(start)
        batch = conn.execute(query).all()
        if not batch:
            break
        params = []
        for row in batch:
            keys = row[: len(key)]
            values = row[len(key) :]
            new = [
                fake.value(rule.kind, value, limit)
                for rule, value, limit in zip(plan.rules, values, plan.limits, strict=True)
            ]
            if new == list(values):
                continue  # nothing personal in this row (all NULL)
            for j, (before, after) in enumerate(zip(values, new, strict=True)):
                if before != after:
                    changed[j] += 1
                    if len(samples[j]) < sample_count:
                        samples[j].append((mask(before), after))
            params.append(
                {
                    **{f"_anon_k{i}": k for i, k in enumerate(keys)},
                    **{f"_anon_v{j}": v for j, v in enumerate(new)},
                }
            )
        if params and not dry_run:
            _guard(conn, table.name, update, params, after=last)
        rewritten += len(params)
        done += len(batch)
        last = tuple(batch[-1][: len(key)])
        if progress is not None:
            progress(table.name, done, total)
    reports = [
        ColumnReport(
            table=table.name,
            column=rule.column,
            kind=rule.kind,
            unique=fake.is_unique(rule.kind),
            rows=done,
            changed=changed[j],
            samples=tuple(samples[j]),
        )
        for j, rule in enumerate(plan.rules)
    ]
    return reports, rewritten


def _guard(
    conn: Connection,
    table: str | None,
    statement: sa.Executable,
    params: list[dict[str, Any]] | None = None,
    *,
    after: tuple[Any, ...] | None = None,
) -> None:
    """Execute; a database error becomes one line (and the transaction rolls back)."""
    try:
        conn.execute(statement, params)
    except sa.exc.DBAPIError as err:
        orig = err.orig
        first = str(orig).strip().splitlines()[0] if orig is not None else str(err)
        where = "" if after is None else f" (batch after key {list(after)})"
        if getattr(orig, "sqlstate", None) == "23505":
            hint = (
                "two rows received one fake value (a hash collision, or values that are "
                "already fakes of others under this key); run again with another key"
            )
        else:
            hint = "the database refused the rewrite"
        raise AnonymizeError(f"{first}{where}; {hint}; nothing was changed", table=table) from err
