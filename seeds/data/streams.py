"""Per-row random streams: a row's randomness depends only on who it is.

A row's stream derives from (Faker seed, revision, table, row position), so adding a
row, a column or another table's rows never changes the values of the others, and
the same seed gives the same rows on every machine (Python's ``random.Random`` is
the Mersenne Twister with a documented seeding algorithm for integers). The
position is the row's place in the seed, never a database key, which would make
the data depend on the keys a database hands out.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime

from faker import Faker

# The defaults of a run (``-x seed``, ``-x now``, ``-x locale``) and of factories used
# outside one: the same data everywhere unless someone asks for other data.
DEFAULT_SEED = 12345
DEFAULT_NOW = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_LOCALE = "en_US"


def _digest(seed: int, parts: tuple[object, ...]) -> bytes:
    text = "\x1f".join([str(seed), *(str(part) for part in parts)])
    return hashlib.sha256(text.encode()).digest()


def derive_seed(seed: int, *parts: object) -> int:
    """A 64-bit seed from the run's seed and any identifying parts."""
    return int.from_bytes(_digest(seed, parts)[:8], "big")


def derive_key(seed: int, *parts: object) -> tuple[int, int]:
    """A 128-bit key as two 64-bit words; the first is ``derive_seed`` of the same parts."""
    digest = _digest(seed, parts)
    return int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big")


class Streams:
    """Random streams and Faker for one seed revision.

    Args:
        seed: The run's Faker seed (``-x seed``).
        revision: The seed revision id.
        locale: Faker locale.
    """

    def __init__(self, seed: int, revision: str, locale: str) -> None:
        self.seed = seed
        self.revision = revision
        self._faker = Faker(locale)

    def random(self, name: str, n: object) -> random.Random:
        """A fresh stream for row ``n`` (its position in the seed) of ``name``."""
        return random.Random(derive_seed(self.seed, self.revision, name, n))

    def faker(self, table: str, n: object) -> Faker:
        """The Faker instance, re-seeded for row ``n`` (its position) of ``table``.

        The instance is shared: take the values of one row before asking for the
        next row's Faker.
        """
        self._faker.seed_instance(derive_seed(self.seed, self.revision, table, n))
        return self._faker
