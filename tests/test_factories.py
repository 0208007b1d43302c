"""Row factories: overrides, sequences, traits, related rows, and determinism."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from app.models import User
from app.seeds.factories import SprintFactory, TaskFactory, UserFactory
from seeds.data.factories import (
    Choice,
    Factory,
    Lazy,
    LazyColumn,
    Pool,
    Row,
    Sequence,
    spread,
)
from seeds.data.streams import derive_key, derive_seed
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


def _shuffled(r: Row) -> list[int]:
    return r.sample(range(10), 10)  # ten words: past the first block of four


class Every(Factory):
    """One field of every kind, and Lazy fields that draw past their first block."""

    table = "every"
    word = Pool("word")
    status = Choice(["todo", "doing", "done"], weights=[5, 2, 3])
    side = Choice(["left", "right"])
    label = Sequence("item-{n}")
    fixed = "same"
    number = Lazy(lambda r: r.randint(1, 1_000_000))
    order = Lazy(_shuffled)
    point = LazyColumn(lambda c: c.uniform(-1.0, 1.0))
    later = LazyColumn(lambda c: [c.randint(0, 9) for _ in range(6)][-1])


def _flat(chunks: Any) -> list[dict[str, Any]]:
    return list(itertools.chain.from_iterable(chunks))


def test_same_seed_same_rows_independent_of_batch_size_and_order() -> None:
    whole = UserFactory.build_batch(100, seed=5)
    halves = UserFactory.build_batch(50, seed=5) + UserFactory.build_batch(50, seed=5, start=50)
    backwards = [UserFactory.build(n, seed=5) for n in reversed(range(100))][::-1]
    assert whole == halves == backwards
    assert UserFactory.build_batch(100, seed=6) != whole


@pytest.mark.parametrize("factory", [Every, UserFactory])
def test_rows_do_not_depend_on_chunks_slices_or_order(factory: type[Factory]) -> None:
    whole = factory.build_batch(100, seed=5)
    assert factory.build_batch(50, seed=5) + factory.build_batch(50, seed=5, start=50) == whole
    for size in (1, 7, 1000):
        chunks = list(factory.iter_chunks(100, chunk=size, seed=5))
        assert all(len(chunk) <= size for chunk in chunks)
        assert _flat(chunks) == whole
    assert [factory.build(n, seed=5) for n in reversed(range(100))][::-1] == whole
    # Keys given as the row numbers are the row numbers; None means "the number".
    assert factory.build_batch(100, seed=5, keys=list(range(100))) == whole
    assert factory.build_batch(100, seed=5, keys=[None] * 100) == whole
    # Rows far out come out the same from a slice that starts there.
    far = factory.build_batch(3, seed=5, start=10**12)
    assert _flat(factory.iter_chunks(3, chunk=2, seed=5, start=10**12)) == far


def test_lazy_and_lazy_column_draw_the_same_words() -> None:
    class ByRow(Factory):
        table = "t"
        a = Lazy(lambda r: (r.randint(0, 99), r.random(), r.uniform(2, 3), r.choice("xyz")))

    class ByColumn(Factory):
        table = "t"
        a = LazyColumn(
            lambda c: list(
                zip(c.randint(0, 99), c.random(), c.uniform(2, 3), c.choice("xyz"), strict=True)
            )
        )

    def plain(rows: list[dict[str, Any]]) -> list[Any]:
        return [tuple(map(lambda v: v.item() if hasattr(v, "item") else v, r["a"])) for r in rows]

    assert plain(ByColumn.build_batch(50, seed=2)) == plain(ByRow.build_batch(50, seed=2))


def test_the_engine_is_philox_keyed_by_seed_table_and_field() -> None:
    """The module docstring's definition, checked word for word, so the values of a
    seed can be reproduced without Seedchain and a change of engine is noticed."""

    class Raw(Factory):
        table = "raw"
        word = LazyColumn(lambda c: c.words())

    def philox(field: str, counter: list[int]) -> int:
        key = np.array(derive_key(9, "raw", field), dtype=np.uint64)
        counter_words = np.array(counter, dtype=np.uint64)
        return int(np.random.Philox(key=key, counter=counter_words).random_raw(4)[0])

    assert [r["word"] for r in Raw.build_batch(3, seed=9, start=41)] == [
        philox("word", [n, 0, 0, 0]) for n in (41, 42, 43)
    ]
    children = Raw.children([{"id": 7}, {"id": 8}], fk="raw_id", per_parent=2, seed=9)
    assert [r["word"] for r in children] == [
        philox("word", [p, k, 0, 1]) for p in (0, 1) for k in (0, 1)
    ]
    assert Raw.build(seed=9, key="natural")["word"] == philox(
        "word", [derive_seed(0, repr("natural")), 0, 0, 2]
    )


def test_pinned_values_are_the_same_on_every_machine() -> None:
    """Exact values of one seed, none of them from Faker (whose pools may change
    between its releases): a change of engine shows up here."""

    class Raw(Factory):
        table = "raw"
        word = LazyColumn(lambda c: c.words())

    assert [r["word"] for r in Raw.build_batch(2, seed=9)] == [
        13202916195551771323,
        2499207295240917281,
    ]
    rows = [{k: v for k, v in r.items() if k != "word"} for r in Every.build_batch(2, seed=1)]
    assert rows == [
        {
            "status": "done",
            "side": "right",
            "label": "item-0",
            "fixed": "same",
            "number": 657736,
            "order": [8, 2, 0, 7, 3, 1, 9, 4, 6, 5],
            "point": -0.7116097172161822,
            "later": 6,
        },
        {
            "status": "todo",
            "side": "right",
            "label": "item-1",
            "fixed": "same",
            "number": 566087,
            "order": [5, 7, 1, 0, 8, 9, 3, 6, 2, 4],
            "point": -0.10512036297635308,
            "later": 7,
        },
    ]
    users = UserFactory.build_batch(2, seed=1)
    assert [u["created_at"] for u in users] == [
        datetime(2025, 4, 2, 19, 48, tzinfo=UTC),
        datetime(2025, 8, 5, 14, 30, tzinfo=UTC),
    ]
    assert [u["email"] for u in users] == [f"{u['username']}@example.com" for u in users]
    assert all(
        re.fullmatch(rf"[a-z0-9]+\.[a-z0-9]+{n}", u["username"]) for n, u in enumerate(users)
    )


def test_rows_do_not_depend_on_other_factories_or_fields() -> None:
    before = Plain.build_batch(20, seed=1)
    UserFactory.build_batch(500, seed=1)  # another factory in between changes nothing

    class Wider(Plain):
        extra = Lazy(lambda r: r.random())  # a new field changes no other field
        column = LazyColumn(lambda c: c.random())

    after = [
        {k: v for k, v in row.items() if k not in ("extra", "column")}
        for row in Wider.build_batch(20, seed=1)
    ]
    assert Plain.build_batch(20, seed=1) == before == after
    # Nor does a field given another value.
    numbers = [r["number"] for r in Plain.build_batch(20, seed=1, word="same")]
    assert numbers == [r["number"] for r in before]


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
    # A parent's children depend on its position alone, not on the parents around it.
    middle = [r for r in whole if r["project_id"] == 12]
    alone = sprints([12], first_parent=2, start=whole.index(middle[0]))
    assert alone == middle


def test_children_come_in_chunks_of_any_size() -> None:
    parents = [{"id": 100 + i} for i in range(40)]

    def chunks(size: int, first_parent: int = 0, start: int = 0, of: Any = parents) -> Any:
        return TaskFactory.iter_children(
            of,
            fk="feature_id",
            per_parent=(0, 6),
            chunk=size,
            seed=4,
            first_parent=first_parent,
            start=start,
        )

    whole = TaskFactory.children(parents, fk="feature_id", per_parent=(0, 6), seed=4)
    for size in (1, 7, 1000):
        parts = list(chunks(size))
        assert all(len(part) <= size for part in parts)
        assert _flat(parts) == whole
    head = _flat(chunks(5, of=parents[:25]))
    assert head + _flat(chunks(3, first_parent=25, start=len(head), of=parents[25:])) == whole
    assert {len([r for r in whole if r["feature_id"] == p["id"]]) for p in parents} >= {0, 6}


def test_memory_is_bounded_by_the_chunk() -> None:
    """Nothing is built ahead of the chunk asked for: a trillion rows start at once."""
    [first] = itertools.islice(UserFactory.iter_chunks(10**12, chunk=1000, seed=1), 1)
    assert len(first) == 1000 and first == UserFactory.build_batch(1000, seed=1)
    assert next(Every.iter_batch(10**12, seed=1)) == Every.build(0, seed=1)
    # One parent with a million children: the first chunk is the first 500 of them.
    parent = [{"id": 1}]
    chunk = next(TaskFactory.iter_children(parent, fk="feature_id", per_parent=10**6, chunk=500))
    assert len(chunk) == 500
    # ... the first three of them as when it has three: a count changes no child.
    assert chunk[:3] == TaskFactory.children(parent, fk="feature_id", per_parent=3)


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
