"""The development dataset: a realistic, consistent world to click around in.

Builders take the seed revision's context and its frozen tables (never app.models)
and write through the context's loaders, so the ledger records every row and the
revision's downgrade removes exactly them. Keys are reserved before writing, so
every foreign key is resolved in memory; counts come from ``[tool.seeds.development]``
and ``-x`` (``ctx.setting``).

Every random stream and child count is keyed by a row's position in this seed (the
n-th project, child k of sprint n), never by the key the database gave the row: a
database that already holds the application's rows, or whose sequences a downgrade
could not wind back, hands out other keys, and the same ``-x seed`` must still give
the same world.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import orm

from app.seeds.factories import (
    FeatureFactory,
    MenuItemFactory,
    ProjectFactory,
    SprintFactory,
    TaskFactory,
    UserFactory,
    WorkflowItemFactory,
)
from seeds import Factory, SeedContext

if TYPE_CHECKING:
    from app.seeds.cities import City

Tables = Mapping[str, sa.Table]
WORKFLOW = ("draft", "review", "approved", "published")
METRICS = {  # name: (base, daily slope, weekly amplitude)
    "signups": (120.0, 2.5, 25.0),
    "active_users": (2_400.0, 18.0, 300.0),
    "revenue_eur": (8_500.0, 65.0, 900.0),
}


# Projects per chunk of the planning world: each chunk's projects, members, sprints,
# features and tasks are built and written before the next chunk is built, so memory
# is bounded by the chunk whatever -x projects= says.
PROJECT_CHUNK = 5_000
# How many projects at most get their members through an ORM relationship (one
# session.get per member), the other way an application writes an association.
RELATIONSHIP_PROJECTS = 50


def _with_keys(
    ctx: SeedContext, table: sa.Table, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    keys = ctx.reserve_keys(table, len(rows))
    return [{"id": key, **row} for key, row in zip(keys, rows, strict=True)]


def _build(ctx: SeedContext, factory: type[Factory], count: int, **kw: Any) -> list[dict[str, Any]]:
    return factory.build_batch(count, seed=ctx.parameters.seed, now=ctx.now, **kw)


@dataclass
class _Planned:
    """How many rows of each child table earlier chunks built: positions go on."""

    sprints: int = 0
    features: int = 0
    tasks: int = 0


def people_and_planning(ctx: SeedContext, t: Tables) -> None:
    """Users; projects with an owner and at least two members; sprints, features, tasks.

    Users stream from the factory straight into the loader (COPY at scale), keyed by
    a reserved range; projects and everything under them are built and written one
    chunk of projects at a time.
    """
    seed, now = ctx.parameters.seed, ctx.now
    user_count = ctx.setting("users", 50, minimum=2)
    user_ids = ctx.reserve_keys(t["users"], user_count)
    users = UserFactory.iter_batch(user_count, seed=seed, now=now)
    ctx.insert(
        t["users"],
        ({"id": key, **row} for key, row in zip(user_ids, users, strict=True)),
        expected=user_count,
    )
    project_count = ctx.setting("projects", 20)
    # Half the projects (at most RELATIONSHIP_PROJECTS) get their members through an
    # ORM relationship, the rest through the association table: both common ways.
    by_relationship = min(project_count // 2, RELATIONSHIP_PROJECTS)
    planned = _Planned()
    for first in range(0, project_count, PROJECT_CHUNK):
        count = min(PROJECT_CHUNK, project_count - first)
        _plan_chunk(ctx, t, first, count, user_ids, by_relationship, planned)


def _plan_chunk(
    ctx: SeedContext,
    t: Tables,
    first: int,
    count: int,
    user_ids: Sequence[int],
    by_relationship: int,
    planned: _Planned,
) -> None:
    """Projects ``first`` .. ``first + count - 1`` and their members, sprints, features
    and tasks."""
    seed, now = ctx.parameters.seed, ctx.now
    projects = ProjectFactory.build_batch(count, seed=seed, now=now, start=first)
    for position, project in enumerate(projects, start=first):
        project["owner_id"] = user_ids[
            ctx.random("projects.owner", position).randrange(len(user_ids))
        ]
    projects = _with_keys(ctx, t["projects"], projects)
    ctx.insert(t["projects"], projects)

    members = _choose_members(ctx, projects, first, user_ids)
    through_orm = {p["id"] for p in projects[: max(0, by_relationship - first)]}
    ctx.insert(t["project_members"], [m for m in members if m["project_id"] not in through_orm])
    if through_orm:
        _members_through_relationship(
            ctx, t, [m for m in members if m["project_id"] in through_orm]
        )

    sprints = SprintFactory.children(
        projects,
        fk="project_id",
        per_parent=(2, 4),
        seed=seed,
        now=now,
        first_parent=first,
        start=planned.sprints,
    )
    sprints = _with_keys(ctx, t["sprints"], sprints)
    ctx.insert(t["sprints"], sprints)
    features = FeatureFactory.children(
        sprints,
        fk="sprint_id",
        per_parent=(1, 3),
        seed=seed,
        now=now,
        first_parent=planned.sprints,
        start=planned.features,
    )
    project_of_sprint = {s["id"]: s["project_id"] for s in sprints}
    for feature in features:
        feature["project_id"] = project_of_sprint[feature["sprint_id"]]
    features = _with_keys(ctx, t["features"], features)
    ctx.insert(t["features"], features)

    members_of: dict[int, list[int]] = {}
    for m in members:
        members_of.setdefault(m["project_id"], []).append(m["user_id"])
    tasks = TaskFactory.children(
        features,
        fk="feature_id",
        per_parent=(2, 5),
        seed=seed,
        now=now,
        first_parent=planned.features,
        start=planned.tasks,
    )
    project_of_feature = {f["id"]: f["project_id"] for f in features}
    for position, task in enumerate(tasks, start=planned.tasks):
        # Assignees are members of the task's own project, or nobody.
        team = members_of[project_of_feature[task["feature_id"]]]
        stream = ctx.random("tasks.assignee", position)
        task["assignee_id"] = stream.choice([*team, None])
    ctx.insert(t["tasks"], tasks)
    planned.sprints += len(sprints)
    planned.features += len(features)
    planned.tasks += len(tasks)


def _choose_members(
    ctx: SeedContext, projects: list[dict[str, Any]], first: int, user_ids: Sequence[int]
) -> list[dict[str, Any]]:
    members = []
    for position, project in enumerate(projects, start=first):
        stream = ctx.random("project_members", position)
        wanted = stream.randint(1, 4)
        # Sampled from the key range itself (a million users are not listed per
        # project); one more than wanted, so dropping the owner still leaves enough.
        drawn = stream.sample(user_ids, k=min(len(user_ids), wanted + 1))
        chosen = [u for u in drawn if u != project["owner_id"]][:wanted]
        team = [project["owner_id"], *chosen]  # the owner is a member too: >= 2 members
        for index, user_id in enumerate(team):
            role = "owner" if index == 0 else "member"
            members.append({"project_id": project["id"], "user_id": user_id, "role": role})
    return members


def _members_through_relationship(
    ctx: SeedContext, t: Tables, members: list[dict[str, Any]]
) -> None:
    """``project.members.append(user)`` on a mapping of the frozen tables."""
    registry = orm.registry()

    class User:
        id: int

    class Project:
        id: int
        members: list[User]

    registry.map_imperatively(User, t["users"])
    registry.map_imperatively(
        Project,
        t["projects"],
        properties={"members": orm.relationship(User, secondary=t["project_members"])},
    )
    try:
        with orm.Session(bind=ctx.connection) as session:  # joins the migration's transaction
            for member in members:
                project = session.get(Project, member["project_id"])
                user = session.get(User, member["user_id"])
                assert project is not None and user is not None
                project.members.append(user)
            session.flush()
    finally:
        # The frozen tables outlive this run (a second run in the same process maps
        # them again); mappings left behind would overlap the next one's.
        registry.dispose()
    # The relationship writes role's server default; set the owners' role as the
    # association-table path does, then record the rows for the downgrade.
    owners = [(m["project_id"], m["user_id"]) for m in members if m["role"] == "owner"]
    pm = t["project_members"]
    for project_id, user_id in owners:
        ctx.connection.execute(
            sa.update(pm)
            .where(pm.c.project_id == project_id, pm.c.user_id == user_id)
            .values(role="owner")
        )
    ctx.adopt(pm, [(m["project_id"], m["user_id"]) for m in members])


def menu_tree(ctx: SeedContext, t: Tables) -> None:
    """Two menus, each a tree of configurable depth and fan-out, parents first."""
    depth, fanout = ctx.setting("menu_depth", 3), ctx.setting("menu_fanout", 3)
    nodes = [row for menu in ("main", "admin") for row in _tree_rows(menu, depth, fanout)]
    keyed = _with_keys(ctx, t["menu_items"], _tree_fill(ctx, nodes))
    by_path = {row["_path"]: row["id"] for row in keyed}
    for row in keyed:
        parent_path = row["_path"][:-1]
        row["parent_id"] = by_path[parent_path] if parent_path else None
    ctx.insert(t["menu_items"], [{k: v for k, v in r.items() if k != "_path"} for r in keyed])


def _tree_rows(menu: str, depth: int, fanout: int) -> list[dict[str, Any]]:
    """Nodes breadth first (parents before children), each with its path in the tree."""
    rows: list[dict[str, Any]] = [{"menu": menu, "position": 0, "_path": (menu,)}]
    frontier: list[tuple[object, ...]] = [(menu,)]
    for _ in range(depth - 1):
        next_frontier = []
        for path in frontier:
            for position in range(fanout):
                child = (*path, position)
                rows.append({"menu": menu, "position": position, "_path": child})
                next_frontier.append(child)
        frontier = next_frontier
    return rows


def _tree_fill(ctx: SeedContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    filled = []
    for n, row in enumerate(rows):
        values = MenuItemFactory.build(n, seed=ctx.parameters.seed, key=row["_path"], now=ctx.now)
        if len(row["_path"]) == 1:
            values["title"] = row["menu"].capitalize()
            values["url"] = f"/{row['menu']}"
        filled.append({**values, **row, "parent_id": None})
    return filled


def metrics_and_events(ctx: SeedContext, t: Tables) -> None:
    """Daily metrics with a trend and a weekly wave; a weekly event on each metric."""
    from seeds import trend

    days = ctx.setting("metric_days", 30)
    first_day = (ctx.now - timedelta(days=days)).date()
    metrics: list[dict[str, Any]] = []
    for name, (base, slope, amplitude) in METRICS.items():
        for day in range(days):
            noise = ctx.random("metrics", (name, day)).uniform(-0.03, 0.03)
            value = trend(day, base=base, slope=slope, amplitude=amplitude) * (1 + noise)
            metrics.append(
                {"name": name, "day": first_day + timedelta(days=day), "value": round(value, 2)}
            )
    metrics = _with_keys(ctx, t["metrics"], metrics)
    ctx.insert(t["metrics"], metrics)
    events = [
        {
            "metric_id": m["id"],
            "occurred_on": m["day"],
            "title": f"Weekly review: {m['name'].replace('_', ' ')}",
            "description": f"{m['name']} was {m['value']} on {m['day'].isoformat()}",
        }
        for m in metrics
        if (m["day"] - first_day).days % 7 == 6  # the last day of each week
    ]
    ctx.insert(t["events"], events)


class _Store(NamedTuple):
    """One store before it has a key: where it is and how far it serves."""

    name: str
    city: str
    lon: float
    lat: float
    radius: int  # metres


def stores(ctx: SeedContext, t: Tables) -> None:
    """Stores around real cities: points (lon, lat) and service areas in metres.

    ``stores`` is a total spread over the cities (the first cities get one more when
    it does not divide); without it, ``stores_per_city`` per city. Store ``k`` of a
    city is the same store whatever the total: its stream is keyed by (city, k).

    Online the rows go in by COPY and the server buffers every service area in one
    UPDATE; a world of 100,000 stores takes seconds, not minutes. Offline (``--sql``)
    there is no COPY and no key to reserve, so the rows go through ``ctx.insert``
    with each service area as SQL the server evaluates when the script runs.
    """
    from app.seeds.cities import CITIES
    from seeds import geo, spread

    per_city = ctx.setting("stores_per_city", 2)
    total = ctx.setting("stores", per_city * len(CITIES))
    places = _store_places(ctx, CITIES, spread(len(CITIES), total))
    table = t["stores"]
    if ctx.offline:
        ctx.insert(
            table,
            [
                {
                    "name": s.name,
                    "city": s.city,
                    "location": geo.point(s.lon, s.lat),
                    "service_area": geo.metre_buffer(s.lon, s.lat, s.radius),
                }
                for s in places
            ],
        )
        return
    keys = ctx.reserve_keys(table, len(places))
    # service_area is NOT NULL: an empty polygon (of the column's type and SRID)
    # holds its place until the UPDATE below. The seed's rows are hashed for the
    # undo after this function returns, so the hashes hold the real areas.
    ctx.bulk(
        table,
        ["id", "name", "city", "location", "service_area"],
        (
            (key, s.name, s.city, geo.point(s.lon, s.lat), _NO_AREA_YET)
            for key, s in zip(keys, places, strict=True)
        ),
    )
    radii = (
        sa.func.unnest(
            sa.bindparam("ids", keys, type_=sa.ARRAY(sa.BigInteger)),
            sa.bindparam("radii", [s.radius for s in places], type_=sa.ARRAY(sa.Integer)),
        )
        .table_valued("id", "metres")
        .render_derived()
    )
    buffered = ctx.connection.execute(
        sa.update(table)
        .values(service_area=geo.metre_buffer_of(table.c.location, radii.c.metres))
        .where(table.c.id == radii.c.id)
    )
    if buffered.rowcount != len(keys):
        raise RuntimeError(
            f"buffered {buffered.rowcount} service areas for the {len(keys)} stores just written"
        )


_NO_AREA_YET = "SRID=4326;POLYGON EMPTY"


def _store_places(ctx: SeedContext, cities: Sequence[City], counts: list[int]) -> list[_Store]:
    """Each city's stores, in city order: a point within 4 km and a 500-5,000 m radius."""
    from seeds import geo

    places = []
    for city, count in zip(cities, counts, strict=True):
        for index in range(count):
            stream = ctx.random("stores", (city.name, index))
            lon, lat = geo.offset(
                city.lon, city.lat, stream.uniform(-4_000, 4_000), stream.uniform(-4_000, 4_000)
            )
            radius = stream.randint(500, 5_000)
            places.append(_Store(f"{city.name} #{index + 1}", city.name, lon, lat, radius))
    return places


def workflow(ctx: SeedContext, t: Tables) -> None:
    """Items in every state, each with a history draft -> ... -> its state, in time order."""
    count = ctx.setting("workflow_items", 24)
    items = _build(ctx, WorkflowItemFactory, count)
    for index, item in enumerate(items):
        item["state"] = WORKFLOW[index % len(WORKFLOW)]  # every state is covered
    items = _with_keys(ctx, t["workflow_items"], items)
    history = []
    for position, item in enumerate(items):
        stream = ctx.random("state_history", position)
        at = item["created_at"]
        previous = None
        for state in WORKFLOW[: WORKFLOW.index(item["state"]) + 1]:
            history.append(
                {
                    "item_id": item["id"],
                    "from_state": previous,
                    "to_state": state,
                    "transitioned_at": at,
                }
            )
            previous = state
            at = at + timedelta(hours=stream.randint(2, 72))
        item["updated_at"] = history[-1]["transitioned_at"]
    ctx.insert(t["workflow_items"], items)
    ctx.insert(t["state_history"], history)
