"""The value mapping of ``seeds anonymize``: which columns, and what replaces their values.

This module owns the configuration (``[tool.seeds.anonymize]`` in pyproject.toml,
``"table.column" = "kind"``, parsed into :class:`ColumnRule`), the secret key
(:func:`load_key`), the Faker value pools, the :class:`Pseudonymizer` that maps a
value to its fake, and :func:`mask` for showing originals. It knows nothing of the
database; :mod:`seeds.tools.anonymize` runs the mapping over one.

Every non-NULL value is replaced by a fake one picked by ``HMAC-SHA256(key, kind +
value)`` from value pools built once from Faker with a fixed seed, so:

- the mapping depends only on the key, the kind and the value: the same e-mail address
  becomes the same fake address in every table and column of kind ``email``, which
  keeps joins (and foreign keys) on personal columns intact, and a second run with
  the same key over the same data gives the same result;
- without the key the mapping cannot be recomputed, so a fake value cannot be traced
  back by hashing guessed originals. Equal values stay equal, though, so frequencies
  survive (the most common first name is still the most common one); that is the
  price of joins that still work;
- a kind used by any unique column (constraint or unique index, expression and
  partial ones included) gets a 64-bit suffix from the HMAC on *every* column of that
  kind, so unique columns stay unique (a collision needs ~5 billion distinct values to
  reach even odds) and cross-column equality still holds;
- e-mail addresses only ever use the reserved domains example.com/.net/.org and phone
  numbers the fictional +1-555-01xx range, so a copy can never mail or call anybody.

The pools come from Faker's data, so pinning the Faker version pins the mapping.
"""

from __future__ import annotations

import enum
import hashlib
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from seeds.errors import AnonymizeError, ConfigurationError

KEY_ENV = "SEEDS_ANONYMIZE_KEY"
# 128 bits: a short key could be found by trying keys against a known original.
MIN_KEY_BYTES = 16

# Changing the seed or the draw count changes every mapping: they are part of the format.
_POOL_SEED = 20260101
_POOL_DRAWS = 2000
# 16 hex digits = 64 bits: among 10 million distinct values the chance of any
# collision is about 1 in 370,000 (even odds need 5 billion); the database still has
# the last word. Hex, not base 32: it is several times cheaper per row in Python.
_SUFFIX_CHARS = 16
_PHONE_DIGITS = 20  # 2**64 < 10**20
# Repeated values (first names, cities of text) are mapped once; bounded, as the
# unique ones never repeat.
_CACHE_SIZE = 1 << 16
_DOMAINS = ("example.com", "example.net", "example.org")  # RFC 2606: never delivered
_LONGEST_DOMAIN = max(len(d) for d in _DOMAINS)
# A fake equal to its original is re-picked; after this many tries the pools are useless.
_MAX_ATTEMPTS = 64


class Kind(enum.StrEnum):
    """What a personal column holds, which decides what replaces it."""

    EMAIL = "email"
    USER_NAME = "user_name"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    NAME = "name"
    PHONE = "phone"
    TEXT = "text"
    NULL = "null"


# Free text is truncated per column; every other kind to the shortest column of its
# kind, so a value maps to the same fake in all of them.
PER_COLUMN_LIMIT = frozenset({Kind.TEXT})
_SEPARATOR = {Kind.EMAIL: ".", Kind.USER_NAME: ".", Kind.PHONE: " x"}


@dataclass(frozen=True)
class ColumnRule:
    """One personal column and its kind (``"users.email" = "email"``)."""

    table: str
    column: str
    kind: Kind

    @property
    def name(self) -> str:
        """``table.column``."""
        return f"{self.table}.{self.column}"


def parse_rules(raw: Mapping[str, Any], source: str = "[tool.seeds.anonymize]") -> list[ColumnRule]:
    """Turn ``{"users.email": "email", ...}`` into rules; bad entries are named with the fix.

    Raises:
        ConfigurationError: an entry is not ``"table.column" = "kind"`` or names an
            unknown kind.
    """
    rules = []
    kinds = ", ".join(k.value for k in Kind)
    for key, value in raw.items():
        table, dot, column = key.rpartition(".")
        if not dot or not table or not column:
            raise ConfigurationError(
                f'{source}: key {key!r} is not "table.column"; e.g. "users.email" = "email"'
            )
        if not isinstance(value, str) or value not in {k.value for k in Kind}:
            raise ConfigurationError(
                f"{source}: {key} = {value!r} is not a kind Seedchain knows; use one of: {kinds}"
            )
        rules.append(ColumnRule(table, column, Kind(value)))
    if not rules:
        raise ConfigurationError(
            f'{source} lists no columns; add the personal ones, e.g. "users.email" = "email"'
        )
    return rules


def load_rules(project_root: Path) -> list[ColumnRule]:
    """The rules in ``[tool.seeds.anonymize]`` of the project's pyproject.toml."""
    path = project_root / "pyproject.toml"
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConfigurationError(f"{path} is missing; anonymize reads its columns there") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(f"{path} is not valid TOML ({err}); fix the file") from err
    section = document.get("tool", {}).get("seeds", {}).get("anonymize")
    if not isinstance(section, dict):
        raise ConfigurationError(
            f"{path} has no [tool.seeds.anonymize] table; list the personal columns there, "
            'e.g. "users.email" = "email"'
        )
    return parse_rules(section, f"{path.name} [tool.seeds.anonymize]")


def load_key(environ: Mapping[str, str], key_file: str | Path | None = None) -> bytes:
    """The secret key: the contents of ``key_file``, else ``$SEEDS_ANONYMIZE_KEY``.

    Surrounding whitespace (a file's trailing newline) is not part of the key.

    Raises:
        ConfigurationError: no key, an unreadable file, or a key shorter than 16 bytes.
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as err:
            raise ConfigurationError(f"cannot read the key file {key_file}: {err}") from err
        source = f"key file {key_file}"
    else:
        key = environ.get(KEY_ENV, "").strip().encode()
        source = KEY_ENV
        if not key:
            raise ConfigurationError(
                f"no anonymization key: set {KEY_ENV} or pass --key-file; the same key "
                "gives the same fake values, so keep it secret and keep it"
            )
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"the key from {source} is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "(e.g. `openssl rand -hex 32`)"
        )
    return key


def mask(value: str | None) -> str:
    """A personal value shown without giving it away: first character and stars."""
    if value is None:
        return "NULL"
    local, at, domain = value.partition("@")
    if at:
        return f"{local[:1]}***@{domain[:1]}***"
    return f"{value[:1]}***" if value else "''"


@dataclass(frozen=True)
class _Pools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    user_names: tuple[str, ...]
    words: tuple[str, ...]


@cache
def _pools() -> _Pools:
    """The value pools, built once per process (about half a second), never per row."""
    from faker import Faker  # late: importing Faker is slow and only anonymize needs it

    def draw(fake: Faker, method: str) -> tuple[str, ...]:
        # Sorted, so the pool does not depend on the order Faker produced the values in.
        return tuple(sorted({getattr(fake, method)() for _ in range(_POOL_DRAWS)}))

    people = Faker("en_US")
    people.seed_instance(_POOL_SEED)
    lorem = Faker("la")
    lorem.seed_instance(_POOL_SEED)
    return _Pools(
        first_names=draw(people, "first_name"),
        last_names=draw(people, "last_name"),
        user_names=draw(people, "user_name"),
        words=draw(lorem, "word"),
    )


class _HmacSha256:
    """HMAC-SHA256 under one key, with the padded key hashed once, not once per value.

    RFC 2104 by hand because ``hmac.digest`` re-derives the pads on every call, which
    costs three times the hash itself at millions of values.
    """

    def __init__(self, key: bytes) -> None:
        block = 64
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class Pseudonymizer:
    """Maps personal values to fake ones: a pure function of (key, kind, value).

    Args:
        key: The secret key.
        unique: Kinds that get a suffix from the HMAC (those used by a unique column).
        limits: Longest value per kind (the shortest column of the kind).

    Example::

        fake = Pseudonymizer(key, unique={Kind.EMAIL})
        fake.value(Kind.EMAIL, "ada@lovelace.org")  # 'kbrown.1f09...@example.net'
    """

    def __init__(
        self,
        key: bytes,
        *,
        unique: Collection[Kind] = (),
        limits: Mapping[Kind, int] | None = None,
    ) -> None:
        self._hmac = _HmacSha256(key)
        self._unique = frozenset(unique)
        self._limits = dict(limits or {})
        self._pools = _pools()
        self._prefixes = {kind: kind.value.encode() + b"\x00" for kind in Kind}
        self._cached = lru_cache(maxsize=_CACHE_SIZE)(self._compute)

    def is_unique(self, kind: Kind) -> bool:
        """True when values of ``kind`` carry a suffix that keeps them unique."""
        return kind in self._unique

    def value(self, kind: Kind, original: str | None, limit: int | None = None) -> str | None:
        """The fake for ``original``; None for NULL and for kind ``null``.

        Args:
            kind: What the value is.
            original: The personal value.
            limit: The column's length limit, for free text (other kinds use the
                limit of their kind, so equal values stay equal across columns).
        """
        if original is None or kind is Kind.NULL:
            return None
        if kind not in PER_COLUMN_LIMIT:
            limit = self._limits.get(kind)
        return self._cached(kind, original, limit)

    def _compute(self, kind: Kind, original: str, limit: int | None) -> str:
        message = self._prefixes[kind] + original.encode("utf-8", "surrogatepass")
        digest = self._hmac.digest(message)
        pick = int.from_bytes(digest[:8], "big")
        for attempt in range(_MAX_ATTEMPTS):
            fake = self._build(kind, digest, pick + attempt, original, limit)
            if fake != original:
                return fake
        raise AnonymizeError(
            f"every fake {kind} tried equals a value of {len(original)} characters"
        )

    def _build(self, kind: Kind, digest: bytes, pick: int, original: str, limit: int | None) -> str:
        pools = self._pools
        other = int.from_bytes(digest[8:16], "big")
        suffix = _suffix(kind, digest) if kind in self._unique else ""
        if kind is Kind.EMAIL:
            domain = _DOMAINS[other % len(_DOMAINS)]
            room = None if limit is None else limit - len(domain) - 1
            local = _fit(pools.user_names[pick % len(pools.user_names)], suffix, kind, room)
            return f"{local}@{domain}"
        if kind is Kind.USER_NAME:
            base = pools.user_names[pick % len(pools.user_names)]
        elif kind is Kind.FIRST_NAME:
            base = pools.first_names[pick % len(pools.first_names)]
        elif kind is Kind.LAST_NAME:
            base = pools.last_names[pick % len(pools.last_names)]
        elif kind is Kind.NAME:
            first = pools.first_names[pick % len(pools.first_names)]
            base = f"{first} {pools.last_names[other % len(pools.last_names)]}"
        elif kind is Kind.PHONE:
            base = f"+1-555-01{pick % 100:02d}"
        else:
            # Free text keeps its length (at least one character), within the column's.
            target = max(1, len(original) if limit is None else min(len(original), limit))
            base = self._lorem(digest, pick, target)
        return _fit(base, suffix, kind, limit)

    def _lorem(self, digest: bytes, pick: int, longest: int) -> str:
        words = self._pools.words
        # Every word takes at least two characters with its space, so this many suffice.
        count = max(1, longest // 2 + 1)
        stream = hashlib.shake_256(digest + pick.to_bytes(8, "big")).digest(2 * count)
        chosen = []
        length = 0
        for index in range(count):
            word = words[int.from_bytes(stream[2 * index : 2 * index + 2], "big") % len(words)]
            chosen.append(word)
            length += len(word) + 1
            if length > longest:
                break
        text = " ".join(chosen)
        if len(text) > longest:
            # End on a whole word when there is one to end on.
            cut = text[: longest + 1].rsplit(" ", 1)[0] if " " in text[:longest] else ""
            text = cut or text[:longest]
        return text[:1].upper() + text[1:]


def _suffix(kind: Kind, digest: bytes) -> str:
    """64 bits of the HMAC that the picks do not use: hex, or decimal for phones."""
    if kind is Kind.PHONE:
        return f"{int.from_bytes(digest[16:24], 'big'):0{_PHONE_DIGITS}d}"
    return digest[16:24].hex()


def _fit(base: str, suffix: str, kind: Kind, limit: int | None) -> str:
    """``base`` (shortened to fit ``limit``) with the suffix kept whole."""
    tail = f"{_SEPARATOR.get(kind, ' ')}{suffix}" if suffix else ""
    if limit is not None:
        base = base[: max(1, limit - len(tail))]
    return base + tail


def shortest_column(kind: Kind, unique: bool) -> int:
    """The shortest column a kind's values fit in."""
    digits = _PHONE_DIGITS if kind is Kind.PHONE else _SUFFIX_CHARS
    tail = len(_SEPARATOR.get(kind, " ")) + digits
    needed = 1 + (tail if unique else 0)
    if kind is Kind.EMAIL:
        needed += 1 + _LONGEST_DOMAIN
    elif kind is Kind.PHONE and not unique:
        needed = len("+1-555-0100")
    return needed
