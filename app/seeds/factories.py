"""Row factories of the reference application (plain rows for the seed loaders).

Each factory names its table and builds mappings of column values; keys and foreign
keys are given by the seed set, which reserves keys before writing so references
resolve in memory. Factories never touch a database.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any

from seeds import Choice, Chunk, Factory, Lazy, LazyColumn, Pool, pool


def _ascii(text: str) -> str:
    """Lower-case ASCII letters only (names make usernames and e-mail addresses)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


class _Folded(dict[str, str]):
    """Names folded by ``_ascii``, each once per process: names come from pools, so a
    million rows fold a few thousand names."""

    def __missing__(self, name: str) -> str:
        folded = self[name] = _ascii(name)
        return folded


_folded = _Folded()


def _usernames(c: Chunk) -> list[str]:
    # The row number makes it unique at any scale; no retries, no Faker.unique.
    fold = _folded
    return [
        f"{fold[first]}.{fold[last]}{n}"
        for first, last, n in zip(c["first_name"], c["last_name"], c.n.tolist(), strict=True)
    ]


def _created_at(c: Chunk) -> list[Any]:
    # Up to two years back, to the minute: one timedelta per row, made by numpy.
    minutes = c.randint(30, 720) * 1440 + c.randint(0, 1439)
    now = c.now
    return [now - ago for ago in minutes.astype("timedelta64[m]").tolist()]


class UserFactory(Factory):
    """``users``: people with unique usernames and e-mail addresses.

    Built a column at a time (:class:`LazyColumn`): seeds load millions of users.
    """

    table = "users"
    first_name = Pool("first_name")
    last_name = Pool("last_name")
    username = LazyColumn(_usernames)
    email = LazyColumn(lambda c: [f"{name}@example.com" for name in c["username"]])
    is_admin = False
    created_at = LazyColumn(_created_at)
    traits = {"admin": {"is_admin": True}}


class ProjectFactory(Factory):
    """``projects``: owner_id is given by the seed set."""

    table = "projects"
    name = Pool("catch_phrase")
    description = Pool("sentence", size=500)
    created_at = Lazy(lambda r: r.now - timedelta(days=r.randint(1, 365)))


class SprintFactory(Factory):
    """``sprints``: consecutive two-week sprints; key = (project position, sprint index)."""

    table = "sprints"
    name = Lazy(lambda r: f"Sprint {r.key[1] + 1}")  # type: ignore[index]
    starts_on = Lazy(
        lambda r: (r.now - timedelta(weeks=12) + timedelta(weeks=2 * r.key[1])).date()  # type: ignore[index]
    )
    ends_on = Lazy(lambda r: r["starts_on"] + timedelta(days=13))


class FeatureFactory(Factory):
    """``features``: project_id and sprint_id are given by the seed set."""

    table = "features"
    title = Lazy(lambda r: str(r.choice(pool("bs"))).capitalize())
    description = Pool("sentence", size=500)


_VERBS = ("Build", "Fix", "Review", "Document", "Test", "Design", "Refactor", "Ship")


class TaskFactory(Factory):
    """``tasks``: feature_id and assignee_id are given by the seed set."""

    table = "tasks"
    title = Lazy(lambda r: f"{r.choice(_VERBS)} {r.choice(pool('word'))}")
    status = Choice(["todo", "doing", "done"], weights=[5, 2, 3])


class MenuItemFactory(Factory):
    """``menu_items``: parent_id, menu and position are given by the tree builder."""

    table = "menu_items"
    title = Lazy(lambda r: str(r.choice(pool("word"))).capitalize())
    url = Lazy(lambda r: f"/{r['title'].lower()}-{r.n}")


class WorkflowItemFactory(Factory):
    """``workflow_items``: state is given by the seed set (every state is covered)."""

    table = "workflow_items"
    title = Pool("catch_phrase")
    created_at = Lazy(lambda r: r.now - timedelta(days=r.randint(10, 60)))
