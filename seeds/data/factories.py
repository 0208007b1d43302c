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

Determinism comes from the row, not from a shared random state. Every random value
is drawn from Philox4x64-10, numpy's counter-based generator, keyed by (seed, table,
field) and with the row's identity as its counter. A row's identity is a pair of
64-bit words and a kind: (``n``, 0) for row ``n``, (``p``, ``k``) for child ``k`` of
the parent at position ``p`` (:meth:`Factory.children`), a hash of any other key
given as ``key=``. Block ``d`` of a row's words for a field (four 64-bit words) is
``numpy.random.Philox(key=K, counter=[a, b, d, kind]).random_raw(4)``, ``K`` being
the first 128 bits of ``derive_key(seed, table, field)``. So a row's values depend
only on who the row is: the same seed gives the same rows whatever the chunk size,
whatever order rows are built in, whichever other factories ran, and whatever keys
the database hands out; adding a field or a row changes no other value.

Speed: a factory builds rows a chunk at a time, column by column. numpy's generator
steps the first word of its counter, so the words of consecutive rows are one call
for the whole chunk, and the children of a slice of parents one call per child index
``k`` (over the parents' positions): no row's identity is hashed. A :class:`Pool`
calls Faker once per pool entry (cached per process) and rows index it with their
words; :class:`Choice` is a ``searchsorted``; constants and :class:`Sequence` cost
next to nothing. :class:`Lazy` fields stay per-row Python functions: their random
words are drawn for the whole chunk at once, four per row, when the first row asks,
so a Lazy field costs only its own Python. :class:`LazyColumn` is the same idea a
column at a time, for fields worth writing over whole columns. Uniqueness at
millions of rows is derived from the row number (``r.n``), never from retries.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from faker import Faker

from seeds.data.streams import DEFAULT_LOCALE, DEFAULT_NOW, DEFAULT_SEED, derive_key, derive_seed
from seeds.errors import ConfigurationError

Words = npt.NDArray[np.uint64]

_MASK = (1 << 64) - 1
# Seed of the Faker that fills pools: fixed, so pools are the same on every machine.
_POOL_SEED = 20_261_126
# Rows built at once by build_batch and iter_batch: large enough that numpy's calls
# cost nothing per row, small enough that a chunk's columns stay a few megabytes.
CHUNK = 10_000
# Kinds of row identity, the counter's last word: they never share a counter.
_POSITION, _CHILD, _HASHED = 0, 1, 2
_BLOCK = 4  # 64-bit words per Philox block: a row's words for a field, per draw


@dataclass(frozen=True)
class _Identities:
    """The identities of a chunk's rows: counter words a and b, and the kind."""

    a: Words
    b: Words
    kind: Words
    run: bool  # consecutive a, one b, one kind: the whole chunk is one generator call

    @classmethod
    def positions(cls, first: int, count: int) -> _Identities:
        a = np.arange(first, first + count, dtype=np.int64).astype(np.uint64)
        zeros = np.zeros(count, np.uint64)
        return cls(a, zeros, np.full(count, _POSITION, np.uint64), True)

    @classmethod
    def children(cls, parents: npt.NDArray[np.int64], index: npt.NDArray[np.int64]) -> _Identities:
        kind = np.full(len(parents), _CHILD, np.uint64)
        return cls(parents.astype(np.uint64), index.astype(np.uint64), kind, False)

    @classmethod
    def of(cls, keys: Seq[object]) -> _Identities:
        """Given keys: an int is a position, a pair of ints a child, anything else hashed."""
        words = [_identity(key) for key in keys]
        a, b, kind = (np.array(column, np.uint64) for column in zip(*words, strict=True))
        run = len(words) == 1
        return cls(a, b, kind, run)


def _identity(key: object) -> tuple[int, int, int]:
    if isinstance(key, int) and not isinstance(key, bool):
        return key & _MASK, 0, _POSITION
    if isinstance(key, tuple) and len(key) == 2:
        parent, index = key
        if all(isinstance(v, int) and not isinstance(v, bool) for v in key):
            return parent & _MASK, index & _MASK, _CHILD
    return derive_seed(0, repr(key)), 0, _HASHED


class _Philox:
    """numpy's Philox under one key, set to a counter for each run of identities."""

    def __init__(self, key: Words) -> None:
        self._generator = np.random.Philox(key=key)
        # Moving one generator to a counter costs a quarter of making a new one.
        self._state = self._generator.state

    def blocks(self, a: int, b: int, draw: int, kind: int, count: int) -> Words:
        """Block ``draw`` of identities (a, b) .. (a + count - 1, b), one row each.

        The generator steps the first word of its counter before each block: set to
        (a, b, draw, kind), it gives the block of a first, then a + 1, and so on.
        """
        state = self._state
        state["state"]["counter"] = np.array([a, b, draw, kind], dtype=np.uint64)
        state["buffer_pos"] = _BLOCK  # nothing buffered: the next word starts a block
        self._generator.state = state
        words = self._generator.random_raw(_BLOCK * count)
        return np.asarray(words, dtype=np.uint64).reshape(count, _BLOCK)


def _blocks(key: Words, ids: _Identities, draw: int) -> Words:
    """Block ``draw`` of every row of ``ids``, one row of four words each."""
    philox = _Philox(key)
    size = len(ids.a)
    if ids.run:
        return philox.blocks(int(ids.a[0]), int(ids.b[0]), draw, int(ids.kind[0]), size)
    out = np.empty((size, _BLOCK), np.uint64)
    # Rows that share b and kind (children with the same index k) differ in a only:
    # one call over their span of a serves them all, unless they are spread so thin
    # in it that a call per row costs less than the blocks between them.
    order = np.lexsort((ids.b, ids.kind))
    b, kind = ids.b[order], ids.kind[order]
    edges = np.flatnonzero((b[1:] != b[:-1]) | (kind[1:] != kind[:-1])) + 1
    for group in np.split(order, edges):
        a = ids.a[group]
        low, high = int(a.min()), int(a.max())
        b0, kind0 = int(ids.b[group[0]]), int(ids.kind[group[0]])
        if high - low < 4 * len(group) + 1024:
            span = philox.blocks(low, b0, draw, kind0, high - low + 1)
            out[group] = span[(a - np.uint64(low)).astype(np.intp)]
        else:
            for row, first in zip(group.tolist(), a.tolist(), strict=True):
                out[row] = philox.blocks(first, b0, draw, kind0, 1)[0]
    return out


class _Draws:
    """One field's random words for a chunk's rows, a block at a time, on first use."""

    __slots__ = ("_blocks", "_flat", "_ids", "_key")

    def __init__(self, key: Words, ids: _Identities) -> None:
        self._key = key
        self._ids = ids
        self._blocks: dict[int, Words] = {}
        self._flat: dict[int, list[int]] = {}

    def block(self, draw: int) -> Words:
        words = self._blocks.get(draw)
        if words is None:
            words = self._blocks[draw] = _blocks(self._key, self._ids, draw)
        return words

    def flat(self, draw: int) -> list[int]:
        """Block ``draw`` as Python ints, row after row (what Row's methods read)."""
        words = self._flat.get(draw)
        if words is None:
            words = self._flat[draw] = self.block(draw).ravel().tolist()
        return words


def _objects(values: Seq[Any]) -> npt.NDArray[np.object_]:
    """``values`` as a 1-d object array (item by item: tuples stay items)."""
    array = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        array[index] = value
    return array


def _unit(words: Words) -> npt.NDArray[np.float64]:
    """Floats in [0, 1) from 64-bit words: their top 53 bits, as Row.random does."""
    return (words >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


class Chunk(Mapping[str, list[Any]]):
    """The rows being built, column by column, as seen by :class:`LazyColumn` fields.

    ``chunk["name"]`` is the column (a list) of a field declared above; the random
    methods give one value per row, each row's from its own counter, as a numpy
    array (``choice``: a list): the k-th call in a field gives every row what its
    k-th ``r.random()`` (``r.randint()``, ...) in a :class:`Lazy` field of the same
    name would. ``identities`` are the rows' keys (``r.key``).

    Attributes:
        n: The rows' numbers, a numpy int64 array.
        size: How many rows.
        now: The reference time of the build.
        locale: The factory's Faker locale.
    """

    def __init__(
        self,
        numbers: npt.NDArray[np.int64],
        ids: _Identities,
        keys: Seq[object] | None,
        now: datetime,
        locale: str,
        parents: list[Any] | None = None,
    ) -> None:
        self.n = numbers
        self.size = len(numbers)
        self.now = now
        self.locale = locale
        self._ids = ids
        self._keys = keys
        self._parents = parents
        self._columns: dict[str, list[Any]] = {}
        self._draws = _Draws(np.zeros(2, np.uint64), ids)  # each field's, from _field()
        self._used = 0
        self._rows: list[Row] | None = None

    def __getitem__(self, name: str) -> list[Any]:
        return self._columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    @property
    def identities(self) -> Seq[object]:
        """The rows' identities: their numbers, the keys given, or (parent, index)."""
        if self._keys is None:
            self._keys = list(zip(self._ids.a.tolist(), self._ids.b.tolist(), strict=True))
        return self._keys

    def _field(self, key: Words) -> None:
        self._draws = _Draws(key, self._ids)
        self._used = 0

    def words(self) -> Words:
        """The next 64-bit word of every row, for the current field."""
        used = self._used
        self._used += 1
        return self._draws.block(used // _BLOCK)[:, used % _BLOCK]

    def random(self) -> npt.NDArray[np.float64]:
        """A float in [0, 1) per row."""
        return _unit(self.words())

    def randint(self, low: int, high: int) -> npt.NDArray[np.int64]:
        """An integer in [low, high] per row, both included (64-bit bounds)."""
        span = high - low + 1
        if not (-(1 << 63) <= low <= high < (1 << 63)) or span >= 1 << 63:
            raise ConfigurationError(f"randint({low}, {high}) over a column needs 64-bit bounds")
        return (self.words() % np.uint64(span)).astype(np.int64) + np.int64(low)

    def uniform(self, low: float, high: float) -> npt.NDArray[np.float64]:
        """A float in [low, high) per row."""
        return low + (high - low) * self.random()

    def choice(self, values: Seq[Any]) -> list[Any]:
        """One of ``values`` per row."""
        return _objects(values)[self.words() % np.uint64(len(values))].tolist()  # type: ignore[no-any-return]

    def rows(self) -> Iterator[Row]:
        """The chunk's rows, each a :class:`Row` for the field being built."""
        rows = self._rows
        if rows is None:
            numbers = self.n.tolist()
            keys = self.identities
            rows = self._rows = [
                Row(self, index, n, key)
                for index, (n, key) in enumerate(zip(numbers, keys, strict=True))
            ]
        for row in rows:
            row._used = 0
            yield row


class Row(Mapping[str, Any]):
    """The row being built, as seen by :class:`Lazy` fields.

    ``r["name"]`` is the value of a field declared above. A row is read while its
    field is computed; keep the values, not the row, which serves the next field.

    Attributes:
        n: The row's number (``start + index``), for sequences and uniqueness.
        key: The row's identity for randomness: ``n`` unless given otherwise, and
            for children (parent position, index).
        now: The reference time of the build.
    """

    __slots__ = ("_chunk", "_index", "_used", "key", "n", "now")

    def __init__(self, chunk: Chunk, index: int, n: int, key: object) -> None:
        self._chunk = chunk
        self._index = index
        self._used = 0
        self.n = n
        self.key = key
        self.now = chunk.now

    def __getitem__(self, name: str) -> Any:
        return self._chunk._columns[name][self._index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._chunk._columns)

    def __len__(self) -> int:
        return len(self._chunk._columns)

    def _bits(self) -> int:
        # The row's next word for the current field: four per block, drawn per chunk.
        used = self._used
        self._used = used + 1
        block = self._chunk._draws.flat(used // _BLOCK)
        return block[self._index * _BLOCK + used % _BLOCK]

    def random(self) -> float:
        """A float in [0, 1) from this row's words for the current field."""
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
        fake = _faker(self._chunk.locale)
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


@functools.cache
def _pool_array(provider: str, locale: str, size: int) -> npt.NDArray[np.object_]:
    return _objects(_pool(provider, locale, size))


class Field:
    """Base of field generators.

    The factory asks a field for a whole chunk's column (``column(chunk)``); the
    default asks ``value(row)`` row by row, which is what a field written for one
    row overrides.
    """

    def value(self, row: Row) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def column(self, chunk: Chunk) -> Seq[Any]:
        """The values of the chunk's rows, in order."""
        return [self.value(row) for row in chunk.rows()]


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

    def column(self, chunk: Chunk) -> Seq[Any]:
        values = _pool_array(self.provider, self.locale or chunk.locale, self.size)
        return values[chunk.words() % np.uint64(len(values))].tolist()  # type: ignore[no-any-return]


class Sequence(Field):  # noqa: A001 - factory_boy's name, the reader expects it
    """A value from the row number: ``Sequence("user{n}")`` or ``Sequence(lambda n: ...)``."""

    def __init__(self, template: str | Callable[[int], Any]) -> None:
        self.template = template

    def column(self, chunk: Chunk) -> Seq[Any]:
        numbers: list[int] = chunk.n.tolist()
        if callable(self.template):
            return [self.template(n) for n in numbers]
        template = self.template.format
        return [template(n=n) for n in numbers]


class Choice(Field):
    """One of the given values, optionally weighted."""

    def __init__(self, values: Seq[Any], weights: Seq[float] | None = None) -> None:
        if not values:
            raise ConfigurationError("Choice() needs at least one value")
        self.values = list(values)
        self._array = _objects(self.values)
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

    def column(self, chunk: Chunk) -> Seq[Any]:
        if self.cumulative is None:
            return chunk.choice(self.values)
        # The first value whose edge lies above the point; rounding may leave the
        # last edge a hair under 1, and the last value takes what falls beyond it.
        index = np.searchsorted(self.cumulative, chunk.random(), side="right")
        return self._array[np.minimum(index, len(self.values) - 1)].tolist()  # type: ignore[no-any-return]


class Lazy(Field):
    """A value computed from the row so far (fields declared above it) and its words."""

    def __init__(self, function: Callable[[Row], Any]) -> None:
        self.function = function

    def value(self, row: Row) -> Any:
        return self.function(row)

    def column(self, chunk: Chunk) -> Seq[Any]:
        function = self.function
        return [function(row) for row in chunk.rows()]


class LazyColumn(Field):
    """A :class:`Lazy` over whole columns: the function takes the :class:`Chunk` and
    returns one value per row (a list or a numpy array), computed from the columns
    declared above it and the chunk's random draws. For fields on the hot path of
    millions of rows; a plain :class:`Lazy` reads better everywhere else."""

    def __init__(self, function: Callable[[Chunk], Seq[Any] | npt.NDArray[Any]]) -> None:
        self.function = function

    def column(self, chunk: Chunk) -> Seq[Any]:
        values = self.function(chunk)
        if isinstance(values, np.ndarray):
            return values.tolist()  # type: ignore[no-any-return]  # numpy scalars would reach the driver
        return values


class _Parent(Field):
    """The children's foreign key: the key of each row's parent (see Factory.children)."""

    def column(self, chunk: Chunk) -> Seq[Any]:
        assert chunk._parents is not None
        return chunk._parents


# Per field: (name, generator or None, constant, Philox key), worked out once per call.
_Plan = list[tuple[str, Field | None, Any, Words]]


class Factory:
    """Base class of declarative row factories (see the module docstring).

    Class attributes:
        table: The table's name: part of every row's random key.
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
        [row] = next(
            cls.iter_chunks(1, seed=seed, start=n, keys=[key], traits=traits, now=now, **overrides)
        )
        return row

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
                between databases (see :meth:`children`). An int is a position, a
                pair of ints (parent position, index) a child's identity; any other
                value is hashed, which costs a few microseconds a row.
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
        """Like :meth:`build_batch`, lazily (a chunk of rows at a time): for bulk loads."""
        chunks = cls.iter_chunks(
            count, seed=seed, start=start, keys=keys, traits=traits, now=now, **overrides
        )
        return itertools.chain.from_iterable(chunks)

    @classmethod
    def iter_chunks(
        cls,
        count: int,
        *,
        chunk: int = CHUNK,
        seed: int = DEFAULT_SEED,
        start: int = 0,
        keys: Seq[object] | None = None,
        traits: Iterable[str] = (),
        now: datetime = DEFAULT_NOW,
        **overrides: Any,
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows ``start`` .. ``start + count - 1`` as lists of at most ``chunk`` rows.

        The fastest way to millions of rows: each list is built column by column and
        memory holds one chunk. The rows are those of :meth:`build_batch` with the
        same arguments, whatever ``chunk`` is.
        """
        if keys is not None and len(keys) != count:
            raise ConfigurationError(f"{cls.__name__}: {count} rows but {len(keys)} keys")
        if chunk < 1:
            raise ConfigurationError(f"{cls.__name__}: chunk must be at least 1, not {chunk}")
        plan = cls._plan(seed, traits, overrides)
        return cls._chunks(plan, count, chunk, start, keys, now)

    @classmethod
    def _chunks(
        cls,
        plan: _Plan,
        count: int,
        chunk: int,
        start: int,
        keys: Seq[object] | None,
        now: datetime,
    ) -> Iterator[list[dict[str, Any]]]:
        for low in range(0, count, chunk):
            high = min(low + chunk, count)
            numbers = np.arange(start + low, start + high, dtype=np.int64)
            if keys is None:
                ids = _Identities.positions(start + low, high - low)
                identities: Seq[object] = range(start + low, start + high)
            else:
                # A key of None means "the row's number", as when no keys are given.
                identities = [
                    n if key is None else key
                    for n, key in zip(range(start + low, start + high), keys[low:high], strict=True)
                ]
                ids = _Identities.of(identities)
            yield cls._build_chunk(plan, Chunk(numbers, ids, identities, now, cls.locale))

    @classmethod
    def _plan(cls, seed: int, traits: Iterable[str], overrides: Mapping[str, Any]) -> _Plan:
        if not cls.table:
            raise ConfigurationError(f"{cls.__name__} declares no table = '...'")
        spec = dict(cls.fields())
        for trait in traits:
            if trait not in cls.traits:
                known = ", ".join(sorted(cls.traits)) or "none"
                raise ConfigurationError(f"{cls.__name__} has no trait {trait!r} (has: {known})")
            spec.update(cls.traits[trait])
        spec.update(overrides)
        unknown = sorted(frozenset(cls.exclude) - set(spec))
        if unknown:
            raise ConfigurationError(
                f"{cls.__name__}.exclude names {unknown}, which are not fields; declare them "
                "or take them out of exclude"
            )
        return [
            (
                name,
                declared if isinstance(declared, Field) else None,
                declared,
                np.array(derive_key(seed, cls.table, name), dtype=np.uint64),
            )
            for name, declared in spec.items()
        ]

    @classmethod
    def _build_chunk(cls, plan: _Plan, chunk: Chunk) -> list[dict[str, Any]]:
        columns = chunk._columns
        for name, generator, constant, key in plan:
            if generator is None:
                columns[name] = [constant] * chunk.size
                continue
            chunk._field(key)
            values = generator.column(chunk)
            if len(values) != chunk.size:
                raise ConfigurationError(
                    f"{cls.__name__}.{name} gave {len(values)} values for {chunk.size} rows"
                )
            columns[name] = values if isinstance(values, list) else list(values)
        helpers = frozenset(cls.exclude)
        names = [name for name in columns if name not in helpers]
        if not names:
            return [{} for _ in range(chunk.size)]
        # Every column holds chunk.size values (checked above): zip needs no strict.
        return [dict(zip(names, values)) for values in zip(*[columns[name] for name in names])]  # noqa: B905

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
        chunks = cls.iter_children(
            parents,
            fk=fk,
            parent_key=parent_key,
            per_parent=per_parent,
            seed=seed,
            start=start,
            first_parent=first_parent,
            now=now,
            **overrides,
        )
        return list(itertools.chain.from_iterable(chunks))

    @classmethod
    def iter_children(
        cls,
        parents: Seq[Mapping[str, Any]],
        *,
        fk: str,
        parent_key: str = "id",
        per_parent: int | tuple[int, int] = 1,
        chunk: int = CHUNK,
        seed: int = DEFAULT_SEED,
        start: int = 0,
        first_parent: int = 0,
        now: datetime = DEFAULT_NOW,
        **overrides: Any,
    ) -> Iterator[list[dict[str, Any]]]:
        """:meth:`children` as lists of at most ``chunk`` rows, for millions of children.

        Pass the seed's parents in slices (``first_parent`` the position of the
        slice's first parent, ``start`` the number of children built before it):
        the children are those of one call over all parents, whatever the slices
        and ``chunk`` are.
        """
        if chunk < 1:
            raise ConfigurationError(f"{cls.__name__}: chunk must be at least 1, not {chunk}")
        counts = cls._child_counts(len(parents), per_parent, seed, fk, first_parent)
        ends = np.cumsum(counts)
        total = int(ends[-1]) if len(ends) else 0
        keys = [parent[parent_key] for parent in parents]
        plan = cls._plan(seed, (), {fk: _Parent(), **overrides})

        def chunks() -> Iterator[list[dict[str, Any]]]:
            for low in range(0, total, chunk):
                index = np.arange(low, min(low + chunk, total), dtype=np.int64)
                parent = np.searchsorted(ends, index, side="right")
                child = index - (ends[parent] - counts[parent])
                ids = _Identities.children(parent + first_parent, child)
                given = [keys[p] for p in parent.tolist()]
                rows = Chunk(start + index, ids, None, now, cls.locale, parents=given)
                yield cls._build_chunk(plan, rows)

        return chunks()

    @classmethod
    def _child_counts(
        cls, parents: int, per_parent: int | tuple[int, int], seed: int, fk: str, first: int
    ) -> npt.NDArray[np.int64]:
        if isinstance(per_parent, int):
            return np.full(parents, per_parent, np.int64)
        low, high = per_parent
        if not 0 <= low <= high:
            raise ConfigurationError(f"{cls.__name__}: per_parent=({low}, {high}) is no range")
        if parents == 0:
            return np.zeros(0, np.int64)
        key = np.array(derive_key(seed, cls.table, "per_parent", fk), dtype=np.uint64)
        words = _blocks(key, _Identities.positions(first, parents), 0)[:, 0]
        return (words % np.uint64(high - low + 1)).astype(np.int64) + low

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
