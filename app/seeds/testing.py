"""The testing dataset: small, specific, named cases a test suite can rely on.

Import the names instead of repeating strings in tests::

    from app.seeds.testing import BOB, APOLLO

Cases: ALICE (admin) owns APOLLO; BOB and CAROL are its members; DAVE is in no
project. APOLLO has one sprint with one feature and two tasks: TASK_ASSIGNED
(BOB, doing) and TASK_UNASSIGNED (nobody, todo). ITEM_DRAFT is a draft with one
history entry; ITEM_PUBLISHED went through every state. STORE sits in Berlin Mitte
with a 1,000 m service area.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from seeds import SeedContext, geo

ALICE, BOB, CAROL, DAVE = "alice", "bob", "carol", "dave"
APOLLO = "Apollo"
SPRINT = "Apollo sprint 1"
FEATURE = "Login page"
TASK_ASSIGNED = "Write the login form"
TASK_UNASSIGNED = "Add password reset"
ITEM_DRAFT = "Draft only"
ITEM_PUBLISHED = "Published announcement"
STORE = "Berlin Mitte"
STORE_LON_LAT = (13.4050, 52.5200)
STORE_RADIUS_M = 1_000

_PEOPLE = {
    ALICE: ("Alice", "Admin", True),
    BOB: ("Bob", "Builder", False),
    CAROL: ("Carol", "Checker", False),
    DAVE: ("Dave", "Drifter", False),
}


def _keyed(ctx: SeedContext, table: sa.Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ctx.reserve_keys(table, len(rows))
    return [{"id": key, **row} for key, row in zip(keys, rows, strict=True)]


def named_cases(ctx: SeedContext, t: Mapping[str, sa.Table]) -> None:
    """Write the named cases."""
    now = ctx.now
    users = _keyed(
        ctx,
        t["users"],
        [
            {
                "username": name,
                "email": f"{name}@test.example",
                "first_name": first,
                "last_name": last,
                "is_admin": admin,
                "created_at": now - timedelta(days=100),
            }
            for name, (first, last, admin) in _PEOPLE.items()
        ],
    )
    ctx.insert(t["users"], users)
    uid = {u["username"]: u["id"] for u in users}

    [project] = _keyed(
        ctx,
        t["projects"],
        [
            {
                "owner_id": uid[ALICE],
                "name": APOLLO,
                "description": "The test project",
                "created_at": now - timedelta(days=90),
            }
        ],
    )
    ctx.insert(t["projects"], [project])
    ctx.insert(
        t["project_members"],
        [
            {"project_id": project["id"], "user_id": uid[name], "role": role}
            for name, role in ((ALICE, "owner"), (BOB, "member"), (CAROL, "member"))
        ],
    )
    [sprint] = _keyed(
        ctx,
        t["sprints"],
        [
            {
                "project_id": project["id"],
                "name": SPRINT,
                "starts_on": (now - timedelta(days=14)).date(),
                "ends_on": now.date(),
            }
        ],
    )
    ctx.insert(t["sprints"], [sprint])
    [feature] = _keyed(
        ctx,
        t["features"],
        [
            {
                "project_id": project["id"],
                "sprint_id": sprint["id"],
                "title": FEATURE,
                "description": "Users can sign in",
            }
        ],
    )
    ctx.insert(t["features"], [feature])
    ctx.insert(
        t["tasks"],
        [
            {
                "feature_id": feature["id"],
                "assignee_id": uid[BOB],
                "title": TASK_ASSIGNED,
                "status": "doing",
            },
            {
                "feature_id": feature["id"],
                "assignee_id": None,
                "title": TASK_UNASSIGNED,
                "status": "todo",
            },
        ],
    )

    created = now - timedelta(days=10)
    items = _keyed(
        ctx,
        t["workflow_items"],
        [
            {"title": ITEM_DRAFT, "state": "draft", "created_at": created, "updated_at": created},
            {
                "title": ITEM_PUBLISHED,
                "state": "published",
                "created_at": created,
                "updated_at": created + timedelta(days=3),
            },
        ],
    )
    ctx.insert(t["workflow_items"], items)
    draft, published = items
    history = [
        {
            "item_id": draft["id"],
            "from_state": None,
            "to_state": "draft",
            "transitioned_at": created,
        }
    ]
    previous = None
    for day, state in enumerate(("draft", "review", "approved", "published")):
        history.append(
            {
                "item_id": published["id"],
                "from_state": previous,
                "to_state": state,
                "transitioned_at": created + timedelta(days=day),
            }
        )
        previous = state
    ctx.insert(t["state_history"], history)

    lon, lat = STORE_LON_LAT
    ctx.insert(
        t["stores"],
        [
            {
                "name": STORE,
                "city": "Berlin",
                "location": geo.point(lon, lat),
                "service_area": geo.metre_buffer(lon, lat, STORE_RADIUS_M),
            }
        ],
    )
