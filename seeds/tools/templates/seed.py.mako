"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision}
Create Date: ${create_date}

Seed revision: runs in ${", ".join(environments)}. The tables below are frozen as they
were at this point in the chain (written by `seeds new`), so a later schema change
can never break replaying this seed: never import the application's models here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
% for line in imports:
${line}
% endfor

from seeds import SeedContext, seed

revision: str = ${up_revision_code}
down_revision: str | Sequence[str] | None = ${down_revision_code}
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.MetaData()
% for table in tables:

${table}
% endfor


<% decorator = f"@seed(environments={environments_code}, tables=[{', '.join(table_vars)}])" %>\
% if len(decorator) <= 100:
${decorator}
% else:
@seed(
    environments=${environments_code},
    tables=[${", ".join(table_vars)}],
)
% endif
def upgrade(ctx: SeedContext) -> None:
    """${message}"""
    # Write rows with ctx.insert(table, rows), or ctx.ensure(table, rows, key=[...])
    # for rows that must be idempotent on a natural key. ctx.faker(table, n) and
    # ctx.random(name, n) give row n its own deterministic stream, n being the row's
    # position in this seed and never a database key (keys differ between databases,
    # and the data would follow them). Seeds read the reference time ctx.now
    # instead of the clock. The downgrade removes exactly the rows inserted here.


downgrade = upgrade.downgrade
