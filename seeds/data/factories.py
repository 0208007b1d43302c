"""Declarative row factories: realistic rows, fast, and the same rows every time.

A factory declares a table's columns as constants or field generators::

    class UserFactory(Factory):
        table = "users"
        first_name = Pool("first_name")
        last_name = Pool("last_name")
        username = Lazy(lambda r: f"{r['first_name']}.{r['last_name']}.{r.n}".lower())
        email = Lazy(lambda r: f"{r['username']}@example.com")
        is_admin = False
        traits = {"admin": {"is_admin": True}}

    rows = UserFactory.build_batch(50, seed=ctx.parameters.seed)
    demo = UserFactory.build(username="demo")

Determinism comes from the row, not from a shared random state: every value of
row ``n`` is drawn from a stream derived from (seed, table, field, row identity), the
identity being the row's position in the seed (``n``, or (parent position, index) for
:meth:`Factory.children`). So the same seed gives the same rows whatever the batch
size, whatever order rows are built in, whichever other factories ran, and whatever
keys the database hands out; adding a field or a row changes no other value.

Speed: calling Faker per value costs tens of microseconds; a :class:`Pool` calls
Faker once per pool entry (cached per process) and rows sample it with a hash,
so building a row costs a few microseconds. Uniqueness at millions of rows is
derived from the row number (``r.n``), never from retries.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any, ClassVar

from faker import Faker

from seeds.data.streams import DEFAULT_LOCALE, DEFAULT_NOW, DEFAULT_SEED, derive_seed
from seeds.errors import ConfigurationError

_MASK = (1 << 64) - 1
# Seed of the Faker that fills pools: fixed, so pools are the same on every machine.
_POOL_SEED = 20_261_126


def _mix(value: int) -> int:
    """splitmix64: a cheap, well-distributed 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _key_number(key: object) -> int:
    """A row identity as a 64-bit number (ints as they are, anything else hashed stably)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key & _MASK
    return derive_seed(0, repr(key))


class Row(Mapping[str, Any]):
    """The row being built, as seen by :class:`Lazy` fields.

    Attributes:
        n: The row's number (``start + index``), for sequences and uniqueness.
        key: The row's identity for randomness: ``n`` unless given otherwise, and
            for children (parent position, index).
        now: The reference time of the build.
    """

    __slots__ = ("_counter", "_locale", "_salt", "_values", "key", "n", "now")

    def __init__(self, n: int, key: object, now: datetime, locale: str) -> None:
        self.n = n
        self.key = key
        self.now = now
        self._values: dict[str, Any] = {}
        self._salt = 0
        self._counter = 0
        self._locale = locale

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def _bits(self) -> int:
        self._counter += 1
        return _mix(self._salt ^ _mix(self._counter))

    def random(self) -> float:
        """A float in [0, 1) from this row's stream for the current field."""
        return (self._bits() >> 11) / float(1 << 53)

    def randint(self, low: int, high: int) -> int:
        """An integer in [low, high], both included."""
        return low + self._bits() % (high - low + 1)

    def uniform(self, low: float, high: float) -> float:
        """A float in [low, high)."""
        return low + (high - low) * self.random()

    def choice(self, values: Seq[Any]) -> Any:
        """One of ``values``."""
        return values[self._bits() % len(values)]

    def sample(self, values: Seq[Any], count: int) -> list[Any]:
        """``count`` distinct items of ``values`` (a partial Fisher-Yates shuffle)."""
        pool = list(values)
        count = min(count, len(pool))
        for i in range(count):
            j = i + self._bits() % (len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:count]

    @property
    def faker(self) -> Faker:
        """A Faker seeded for this row and field (slow: prefer :class:`Pool`)."""
        fake = _faker(self._locale)
        fake.seed_instance(self._bits())
        return fake


@functools.cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def pool(provider: str, size: int = 1_000, locale: str = DEFAULT_LOCALE) -> tuple[Any, ...]:
    """The values of a Faker provider pool (built once per process), for ``r.choice``."""
    return _pool(provider, locale, size)


@functools.cache
def _pool(provider: str, locale: str, size: int) -> tuple[Any, ...]:
    fake = Faker(locale)
    fake.seed_instance(_POOL_SEED)
    try:
        method = getattr(fake, provider)
    except AttributeError:
        raise ConfigurationError(f"Faker has no provider {provider!r} (locale {locale})") from None
    return tuple(method() for _ in range(size))


class Field:
    """Base of field generators; ``value(row)`` gives the field's value for one row."""

    def value(self, row: Row) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Pool(Field):
    """A Faker provider sampled from a pool built once per process.

    Args:
        provider: Faker method name (``"first_name"``, ``"city"``, ``"catch_phrase"``).
        size: Pool size; more means more variety, paid once.
        locale: Faker locale; default: the factory's.
    """

    def __init__(self, provider: str, size: int = 1_000, locale: str | None = None) -> None:
        self.provider = provider
        self.size = size
        self.locale = locale
        self._by_locale: dict[str, tuple[Any, ...]] = {}

    def value(self, row: Row) -> Any:
        locale = self.locale or row._locale
        values = self._by_locale.get(locale)
        if values is None:
            values = self._by_locale[locale] = _pool(self.provider, locale, self.size)
        return values[row._bits() % len(values)]


class Sequence(Field):  # noqa: A001 - factory_boy's name, the reader expects it
    """A value from the row number: ``Sequence("user{n}")`` or ``Sequence(lambda n: ...)``."""

    def __init__(self, template: str | Callable[[int], Any]) -> None:
        self.template = template

    def value(self, row: Row) -> Any:
        if callable(self.template):
            return self.template(row.n)
        return self.template.format(n=row.n)


class Choice(Field):
    """One of the given values, optionally weighted."""

    def __init__(self, values: Seq[Any], weights: Seq[float] | None = None) -> None:
        if not values:
            raise ConfigurationError("Choice() needs at least one value")
        self.values = list(values)
        self.cumulative: list[float] | None = None
        if weights is not None:
            if len(weights) != len(values):
                raise ConfigurationError("Choice() needs one weight per value")
            total = float(sum(weights))
            running = 0.0
            self.cumulative = []
            for weight in weights:
                running += weight / total
                self.cumulative.append(running)

    def value(self, row: Row) -> Any:
        if self.cumulative is None:
            return row.choice(self.values)
        point = row.random()
        for value, edge in zip(self.values, self.cumulative, strict=True):
            if point < edge:
                return value
        return self.values[-1]


class Lazy(Field):
    """A value computed from the row so far (fields declared above it) and its stream."""

    def __init__(self, function: Callable[[Row], Any]) -> None:
        self.function = function

    def value(self, row: Row) -> Any:
        return self.function(row)


class Factory:
    """Base class of declarative row factories (see the module docstring).

    Class attributes:
        table: The table's name: part of every row's random stream.
        locale: Faker locale for pools and ``r.faker``.
        traits: Named sets of overrides, applied with ``traits=("name",)``.
        exclude: Helper fields: computed (and overridable) like any other, available
            to ``Lazy`` fields as ``r["name"]``, but left out of the rows built
            (factory_boy's ``Meta.exclude``); e.g. a ``full_name`` the e-mail is made of.
    """

    table: ClassVar[str] = ""
    locale: ClassVar[str] = DEFAULT_LOCALE
    traits: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    exclude: ClassVar[Iterable[str]] = ()

    _RESERVED = frozenset({"table", "locale", "traits", "exclude"})

    @classmethod
    def fields(cls) -> dict[str, Any]:
        """Declared fields in declaration order, base classes first."""
        declared: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if name.startswith("_") or name in cls._RESERVED:
                    continue
                if isinstance(value, classmethod | staticmethod | property):
                    continue
                if callable(value) and not isinstance(value, Field):
                    continue
                declared[name] = value
        return declared

    @classmethod
    def build(
        cls,
        n: int = 0,
        *,
        seed: int = DEFAULT_SEED,
        key: object = None,
        traits: Iterable[str] = (),
        now: datetime = DEFAULT_NOW,
        **overrides: Any,
    ) -> dict[str, Any]:
        """One row, number ``n``; ``overrides`` replace fields (values or Fields)."""
        return next(cls._rows([n], [key], seed=seed, traits=traits, now=now, overrides=overrides))

    @classmethod
    def build_batch(
        cls,
        count: int,
        *,
        seed: int = DEFAULT_SEED,
        start: int = 0,
        keys: Seq[object] | None = None,
        traits: Iterable[str] = (),
        now: datetime = DEFAULT_NOW,
        **overrides: Any,
    ) -> list[dict[str, Any]]:
        """Rows ``start`` .. ``start + count - 1``.

        Args:
            count: How many rows.
            seed: The run's seed (``ctx.parameters.seed``).
            start: Number of the first row: building 0..99 at once or as 0..49 and
                50..99 gives the same rows.
            keys: Row identities for randomness (default: the row numbers): positions
                in the seed or natural values, never database keys, which differ
                between databases (see :meth:`children`).
            traits: Names from ``traits`` to apply.
            now: Reference time, available to fields as ``r.now``.
            **overrides: Field values or Fields replacing the declared ones.
        """
        return list(
            cls.iter_batch(
                count, seed=seed, start=start, keys=keys, traits=traits, now=now, **overrides
            )
        )

    @classmethod
    def iter_batch(
        cls,
        count: int,
        *,
        seed: int = DEFAULT_SEED,
        start: int = 0,
        keys: Seq[object] | None = None,
        traits: Iterable[str] = (),
        now: datetime = DEFAULT_NOW,
        **overrides: Any,
    ) -> Iterator[dict[str, Any]]:
        """Like :meth:`build_batch`, lazily: for bulk loads of millions of rows."""
        if keys is not None and len(keys) != count:
            raise ConfigurationError(f"{cls.__name__}: {count} rows but {len(keys)} keys")
        numbers = range(start, start + count)
        row_keys: Iterable[object] = keys if keys is not None else [None] * count
        return cls._rows(numbers, row_keys, seed=seed, traits=traits, now=now, overrides=overrides)

    @classmethod
    def _rows(
        cls,
        numbers: Iterable[int],
        keys: Iterable[object],
        *,
        seed: int,
        traits: Iterable[str],
        now: datetime,
        overrides: Mapping[str, Any],
    ) -> Iterator[dict[str, Any]]:
        if not cls.table:
            raise ConfigurationError(f"{cls.__name__} declares no table = '...'")
        spec = dict(cls.fields())
        for trait in traits:
            if trait not in cls.traits:
                known = ", ".join(sorted(cls.traits)) or "none"
                raise ConfigurationError(f"{cls.__name__} has no trait {trait!r} (has: {known})")
            spec.update(cls.traits[trait])
        spec.update(overrides)
        helpers = frozenset(cls.exclude)
        unknown = sorted(helpers - set(spec))
        if unknown:
            raise ConfigurationError(
                f"{cls.__name__}.exclude names {unknown}, which are not fields; declare them "
                "or take them out of exclude"
            )
        # Per field: (name, generator or None, constant, salt), worked out once.
        plan = [
            (
                name,
                declared if isinstance(declared, Field) else None,
                declared,
                derive_seed(seed, cls.table, name),
            )
            for name, declared in spec.items()
        ]
        locale = cls.locale
        for n, key in zip(numbers, keys, strict=False):
            identity = n if key is None else key
            row = Row(n, identity, now, locale)
            number = _key_number(identity)
            values = row._values
            for name, generator, constant, salt in plan:
                if generator is None:
                    values[name] = constant
                else:
                    row._salt = salt ^ number
                    row._counter = 0
                    values[name] = generator.value(row)
            yield {k: v for k, v in values.items() if k not in helpers} if helpers else values

    @classmethod
    def children(
        cls,
        parents: Seq[Mapping[str, Any]],
        *,
        fk: str,
        parent_key: str = "id",
        per_parent: int | tuple[int, int] = 1,
        seed: int = DEFAULT_SEED,
        start: int = 0,
        first_parent: int = 0,
        now: datetime = DEFAULT_NOW,
        **overrides: Any,
    ) -> list[dict[str, Any]]:
        """Rows related to ``parents``, each with ``fk`` set to its parent's ``parent_key``.

        A parent is known by its position: its index in ``parents`` plus
        ``first_parent`` (the position of ``parents[0]`` when the seed's parents are
        passed in slices). How many children the parent at position ``p`` gets, and
        the randomness of its child ``k``, come from ``p`` and ``(p, k)``; the parent's
        key is only copied into ``fk``. Keys are whatever the database handed out (a
        database holding the application's rows, or one whose sequences a downgrade
        could not wind back, hands out others), positions are the seed's own: so the
        same seed gives the same children in every database, and a parent's children
        do not change when parents are added after it.

        Args:
            parents: The parent rows, in the order the seed built them.
            fk: The children's column that references the parent.
            parent_key: The parent's column ``fk`` takes its value from.
            per_parent: A count, or an inclusive (low, high) range drawn per parent.
            seed: The run's seed (``ctx.parameters.seed``).
            start: Number (``r.n``) of the first child, as in :meth:`build_batch`.
            first_parent: Position of ``parents[0]`` among the seed's parents.
            now: Reference time, available to fields as ``r.now``.
            **overrides: Field values or Fields replacing the declared ones.
        """
        rows: list[dict[str, Any]] = []
        salt = derive_seed(seed, cls.table, "per_parent", fk)
        for position, parent in enumerate(parents, start=first_parent):
            if isinstance(per_parent, int):
                count = per_parent
            else:
                low, high = per_parent
                count = low + _mix(salt ^ _key_number(position)) % (high - low + 1)
            rows.extend(
                cls.build_batch(
                    count,
                    seed=seed,
                    start=start + len(rows),
                    keys=[(position, index) for index in range(count)],
                    now=now,
                    **{fk: parent[parent_key], **overrides},
                )
            )
        return rows

    @classmethod
    def instances(cls, model: Callable[..., Any], rows: Iterable[Mapping[str, Any]]) -> list[Any]:
        """ORM instances from built rows, for tests that want objects (not added to
        any session: the caller decides, and the caller commits)."""
        return [model(**row) for row in rows]


def spread(count: int, total: int) -> list[int]:
    """Split ``total`` into ``count`` near-equal whole parts (deterministic)."""
    base = total // count
    return [base + (1 if i < total % count else 0) for i in range(count)]


def trend(day: int, *, base: float, slope: float, amplitude: float, period: float = 7.0) -> float:
    """A daily value with a linear trend and a weekly wave (for metric series)."""
    return base + slope * day + amplitude * math.sin(2 * math.pi * day / period)
