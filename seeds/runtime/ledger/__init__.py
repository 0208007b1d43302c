"""The seed ledger: what every seed revision run did, and how to undo it exactly.

:class:`Ledger` (in :mod:`.runs`, built on :mod:`.keys`) does every read and write of
the four tables of :mod:`.tables`; nothing else in Seedchain names them.
"""

from seeds.runtime.ledger.keys import RECORDED, KeyRecords, RunRef
from seeds.runtime.ledger.runs import Ledger, Protection
from seeds.runtime.ledger.tables import (
    TABLE_NAMES,
    EventKind,
    JsonText,
    Status,
    events,
    ledger,
    ledger_hashes,
    ledger_keys,
    metadata,
)

__all__ = [
    "RECORDED",
    "TABLE_NAMES",
    "EventKind",
    "JsonText",
    "KeyRecords",
    "Ledger",
    "Protection",
    "RunRef",
    "Status",
    "events",
    "ledger",
    "ledger_hashes",
    "ledger_keys",
    "metadata",
]
