"""Row factories: overrides, sequences, traits, related rows, and determinism."""

from __future__ import annotations

from typing import Any

import pytest

from app.models import User
from app.seeds.factories import SprintFactory, TaskFactory, UserFactory
from seeds.data.factories import Choice, Factory, Lazy, Pool, Sequence, spread
from seeds.errors import ConfigurationError


class Plain(Factory):
    table = "plain"
    word = Pool("word")
    number = Lazy(lambda r: r.randint(1, 1_000_000))
    label = Sequence("item-{n}")


def test_override_sequence_and_trait() -> None:
    demo = UserFactory.build(7, username="demo")
    assert demo["username"] == "demo"
    assert demo["email"] == "demo@example.com"  # derived fields see the override
    assert Plain.build(3)["label"] == "item-3"
    assert UserFactory.build(traits=("admin",))["is_admin"] is True
    with pytest.raises(ConfigurationError, match="has no trait 'nope'"):
        UserFactory.build(traits=("nope",))


def test_same_seed_same_rows_independent_of_batch_size_and_order() -> None:
    whole = UserFactory.build_batch(100, seed=5)
    halves = UserFactory.build_batch(50, seed=5) + UserFactory.build_batch(50, seed=5, start=50)
    backwards = [UserFactory.build(n, seed=5) for n in reversed(range(100))][::-1]
    assert whole == halves == backwards
    assert UserFactory.build_batch(100, seed=6) != whole


def test_rows_do_not_depend_on_other_factories_or_fields() -> None:
    before = Plain.build_batch(20, seed=1)
    UserFactory.build_batch(500, seed=1)  # another factory in between changes nothing

    class Wider(Plain):
        extra = Lazy(lambda r: r.random())  # a new field changes no other field

    after = [
        {k: v for k, v in row.items() if k != "extra"} for row in Wider.build_batch(20, seed=1)
    ]
    assert Plain.build_batch(20, seed=1) == before == after


def test_uniqueness_holds_at_scale_without_retries() -> None:
    rows = list(UserFactory.iter_batch(200_000, seed=1))
    assert len({r["username"] for r in rows}) == 200_000
    assert len({r["email"] for r in rows}) == 200_000


def test_children_come_from_their_parents_position_not_its_key() -> None:
    def sprints(ids: list[int], first_parent: int = 0, start: int = 0) -> list[dict[str, Any]]:
        parents = [{"id": i} for i in ids]
        return SprintFactory.children(
            parents,
            fk="project_id",
            per_parent=(2, 4),
            seed=3,
            first_parent=first_parent,
            start=start,
        )

    def without_fk(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "project_id"} for r in rows]

    whole = sprints([10, 11, 12, 13, 14])
    # Keys a database hands out change nothing but the foreign key itself.
    rekeyed = sprints([70, 92, 93, 94, 95])
    assert without_fk(rekeyed) == without_fk(whole)
    assert [r["project_id"] for r in rekeyed] != [r["project_id"] for r in whole]
    # A parent's children do not change when parents are added after it ...
    assert sprints([10, 11, 12, 13, 14, 15])[: len(whole)] == whole
    # ... and parents passed in slices give the same children as all at once.
    head = sprints([10])
    assert head + sprints([11, 12, 13, 14], first_parent=1, start=len(head)) == whole
    assert all(r["ends_on"] > r["starts_on"] for r in whole)
    assert [r["name"] for r in head] == [f"Sprint {i + 1}" for i in range(len(head))]
    counts = {len([r for r in whole if r["project_id"] == i]) for i in range(10, 15)}
    assert counts == {2, 3, 4}  # drawn per parent


def test_choice_weights_are_respected() -> None:
    statuses = [r["status"] for r in TaskFactory.build_batch(20_000, seed=2)]
    share = {s: statuses.count(s) / len(statuses) for s in ("todo", "doing", "done")}
    assert share["todo"] == pytest.approx(0.5, abs=0.02)
    assert share["doing"] == pytest.approx(0.2, abs=0.02)
    with pytest.raises(ConfigurationError):
        Choice(["a", "b"], weights=[1])


def test_locale_changes_the_pool() -> None:
    class German(Factory):
        table = "people"
        locale = "de_DE"
        city = Pool("city")

    class English(German):
        locale = "en_US"

    german = {r["city"] for r in German.build_batch(300, seed=1)}
    english = {r["city"] for r in English.build_batch(300, seed=1)}
    assert not german & english
    assert any(c.endswith(("hausen", "stadt", "dorf", "burg", "heim", "berg")) for c in german)


def test_orm_instances_on_request() -> None:
    [user] = UserFactory.instances(User, UserFactory.build_batch(1, seed=1))
    assert isinstance(user, User) and user.username.endswith("0")


def test_spread_splits_exactly() -> None:
    assert spread(3, 10) == [4, 3, 3] and sum(spread(7, 100)) == 100


class _Person(Factory):
    table = "people"
    exclude = ("full_name",)
    first_name = Pool("first_name")
    last_name = Pool("last_name")
    full_name = Lazy(lambda r: f"{r['first_name']} {r['last_name']}")
    email = Lazy(lambda r: r["full_name"].lower().replace(" ", ".") + "@example.com")


def test_helper_fields_feed_lazy_fields_and_leave_the_row() -> None:
    rows = _Person.build_batch(3, seed=7)
    assert all(set(row) == {"first_name", "last_name", "email"} for row in rows)
    first = rows[0]
    assert (
        first["email"]
        == f"{first['first_name']} {first['last_name']}".lower().replace(" ", ".") + "@example.com"
    )
    # A helper can be overridden like any field; the row still leaves it out.
    assert _Person.build(full_name="Ada Lovelace")["email"] == "ada.lovelace@example.com"


def test_exclude_names_only_declared_fields() -> None:
    class Broken(_Person):
        exclude = ("nickname",)

    with pytest.raises(ConfigurationError, match=r"Broken.exclude names \['nickname'\]"):
        Broken.build()
