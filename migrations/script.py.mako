<%!
    def py(value):
        """Render a revision value the way ruff format writes it (double quotes)."""
        return repr(value).replace("'", '"')

    def third_party_imports(extra, down_revision, body):
        """Sort autogenerate's extra imports in with sqlalchemy and alembic (isort order).

        An empty merge revision stays empty for good, so it imports nothing (ruff F401).
        """
        merge_only = isinstance(down_revision, (tuple, list)) and not body
        lines = set() if merge_only else {"import sqlalchemy as sa", "from alembic import op"}
        lines.update(line for line in (extra or "").splitlines() if line.strip())
        plain = sorted(line for line in lines if line.startswith("import "))
        return "\n".join(plain + sorted(lines.difference(plain)))
%>"""${message}

Revision ID: ${up_revision}
Revises:${" " if down_revision else ""}${down_revision | comma,n}
Create Date: ${create_date}

Schema revision. It must keep working when the models change, so it never imports
app.models: columns, constraints and their names are written out here (op.f(...)
marks a name as final, so the naming convention does not rename it again).
"""

from __future__ import annotations

from collections.abc import Sequence
<% third_party = third_party_imports(imports, down_revision, upgrades or downgrades) %>\
% if third_party:

${third_party}
% endif

# revision identifiers, used by Alembic.
revision: str = ${py(up_revision)}
down_revision: str | Sequence[str] | None = ${py(down_revision)}
branch_labels: str | Sequence[str] | None = ${py(branch_labels)}
depends_on: str | Sequence[str] | None = ${py(depends_on)}


def upgrade() -> None:
    """Apply this revision's schema changes."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Undo exactly what upgrade() did, in reverse order."""
    ${downgrades if downgrades else "pass"}
