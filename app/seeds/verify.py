"""Verification rules of the reference app, run by ``seeds verify`` and the tests.

They check the database as it is now (at head), so they use the current models.
Each rule yields one line per problem; none means it passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from app.models import (
    WORKFLOW_STATES,
    Base,
    Event,
    Feature,
    MenuItem,
    Metric,
    Project,
    Sprint,
    StateHistory,
    Store,
    Task,
    WorkflowItem,
    project_members,
)
from seeds.tools.verification import applied_runs, rule

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@rule("no orphans: every foreign key finds its row")
def no_orphans(conn: Connection) -> Iterator[str]:
    # The database enforces these on PostgreSQL; the rule matters where foreign keys
    # were off (SQLite) or a restore skipped them.
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table.alias("parent")
            local = [e.parent for e in fk.elements]
            remote = [parent.c[e.column.name] for e in fk.elements]
            join = sa.and_(*(lc == rc for lc, rc in zip(local, remote, strict=True)))
            orphans = conn.scalar(
                sa.select(sa.func.count())
                .select_from(table.outerjoin(parent, join))
                .where(sa.and_(*(c.is_not(None) for c in local)), remote[0].is_(None))
            )
            if orphans:
                yield f"{orphans} rows of {table.name} point at missing {fk.referred_table.name}"


@rule("seeded counts are the configured ones")
def counts_as_configured(conn: Connection) -> Iterator[str]:
    # Each applied seed keeps the settings it ran with (config and -x) in the ledger.
    expected = {
        "users": "users",
        "projects": "projects",
        "workflow_items": "workflow_items",
        "stores": "stores",
    }
    for record in applied_runs(conn):
        used = record.undo.get("settings", {})
        for table, setting in expected.items():
            if setting in used and record.row_counts.get(table) != int(used[setting]):
                yield (
                    f"seed {record.revision} wrote {record.row_counts.get(table)} {table}, "
                    f"configured {used[setting]}"
                )


@rule("every project has an owner among at least two members")
def projects_have_owner_and_members(conn: Connection) -> Iterator[str]:
    members = (
        sa.select(project_members.c.project_id, sa.func.count().label("n"))
        .group_by(project_members.c.project_id)
        .subquery()
    )
    few = conn.execute(
        sa.select(Project.id, Project.name, sa.func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.project_id == Project.id)
        .where(sa.func.coalesce(members.c.n, 0) < 2)
    )
    for project_id, name, count in few:
        yield f"project {project_id} ({name}) has {count} members, expected at least 2"
    owner_missing = conn.execute(
        sa.select(Project.id).where(
            ~sa.exists().where(
                project_members.c.project_id == Project.id,
                project_members.c.user_id == Project.owner_id,
            )
        )
    )
    for (project_id,) in owner_missing:
        yield f"project {project_id}: its owner is not one of its members"


@rule("features, sprints and task assignees belong to the same project")
def planning_is_consistent(conn: Connection) -> Iterator[str]:
    wrong_sprint = conn.execute(
        sa.select(Feature.id)
        .join(Sprint, Sprint.id == Feature.sprint_id)
        .where(Sprint.project_id != Feature.project_id)
    )
    for (feature_id,) in wrong_sprint:
        yield f"feature {feature_id} is in a sprint of another project"
    outsiders = conn.execute(
        sa.select(Task.id)
        .join(Feature, Feature.id == Task.feature_id)
        .where(
            Task.assignee_id.is_not(None),
            ~sa.exists().where(
                project_members.c.project_id == Feature.project_id,
                project_members.c.user_id == Task.assignee_id,
            ),
        )
    )
    for (task_id,) in outsiders:
        yield f"task {task_id} is assigned to someone outside its feature's project"


@rule("each menu is one tree: one root, no cycles")
def menus_are_trees(conn: Connection) -> Iterator[str]:
    roots = conn.execute(
        sa.select(MenuItem.menu, sa.func.count())
        .where(MenuItem.parent_id.is_(None))
        .group_by(MenuItem.menu)
        .having(sa.func.count() != 1)
    )
    for menu, count in roots:
        yield f"menu {menu!r} has {count} roots"
    mixed = conn.execute(
        sa.select(MenuItem.id)
        .join(MenuItem.parent.of_type(sa.orm.aliased(MenuItem, name="parent_item")))
        .where(sa.literal_column("parent_item.menu") != MenuItem.menu)
    )
    for (item_id,) in mixed:
        yield f"menu item {item_id} has a parent in another menu"
    # Every item must reach a root by walking parents (a cycle never does).
    reach = (
        sa.select(MenuItem.id.label("id"))
        .where(MenuItem.parent_id.is_(None))
        .cte("reach", recursive=True)
    )
    reach = reach.union_all(sa.select(MenuItem.id).join(reach, MenuItem.parent_id == reach.c.id))
    unreached = conn.scalar(
        sa.select(sa.func.count())
        .select_from(MenuItem)
        .where(MenuItem.id.not_in(sa.select(reach.c.id)))
    )
    if unreached:
        yield f"{unreached} menu items never reach a root (a cycle)"


@rule("every weekly event belongs to a metric on its day")
def events_match_metrics(conn: Connection) -> Iterator[str]:
    wrong = conn.execute(
        sa.select(Event.id)
        .join(Metric, Metric.id == Event.metric_id)
        .where(Event.occurred_on != Metric.day)
    )
    for (event_id,) in wrong:
        yield f"event {event_id} is not on its metric's day"


@rule("store geometries are valid, SRID 4326, and the service area contains the store")
def stores_are_valid(conn: Connection) -> Iterator[str]:
    bad = conn.execute(
        sa.select(Store.id, Store.name).where(
            sa.or_(
                ~sa.func.ST_IsValid(Store.location),
                ~sa.func.ST_IsValid(Store.service_area),
                sa.func.ST_SRID(Store.location) != 4326,
                sa.func.ST_SRID(Store.service_area) != 4326,
                ~sa.func.ST_Contains(Store.service_area, Store.location),
            )
        )
    )
    for store_id, name in bad:
        yield f"store {store_id} ({name}) has an invalid geometry or its area misses it"


@rule("workflow histories go draft -> review -> approved -> published, in time order")
def histories_are_consistent(conn: Connection) -> Iterator[str]:
    history: dict[int, list[tuple[str | None, str, datetime]]] = {}
    for item_id, from_state, to_state, at in conn.execute(
        sa.select(
            StateHistory.item_id,
            StateHistory.from_state,
            StateHistory.to_state,
            StateHistory.transitioned_at,
        ).order_by(StateHistory.item_id, StateHistory.id)
    ):
        history.setdefault(item_id, []).append((from_state, to_state, at))
    for item_id, state in conn.execute(sa.select(WorkflowItem.id, WorkflowItem.state)):
        steps = history.get(item_id, [])
        expected = list(WORKFLOW_STATES[: WORKFLOW_STATES.index(state) + 1])
        if [to for _, to, _ in steps] != expected:
            yield f"workflow item {item_id} ({state}) has history {[to for _, to, _ in steps]}"
            continue
        if [frm for frm, _, _ in steps] != [None, *expected[:-1]]:
            yield f"workflow item {item_id}: from_state does not follow to_state"
        times = [at for _, _, at in steps]
        if times != sorted(times):
            yield f"workflow item {item_id}: history is not in time order"
