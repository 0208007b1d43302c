"""The Seedchain error hierarchy.

Every error the engine raises on purpose derives from :class:`SeedError`, keeps the
facts it is about as attributes, and says in its message what to do about it.
"""

from __future__ import annotations


def first_line(err: BaseException) -> str:
    """The first line of what went wrong: for a database error, of what the driver said
    (SQLAlchemy's wrapper adds the statement and a link after it)."""
    said = getattr(err, "orig", None)
    lines = str(said if said is not None else err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


class SeedError(Exception):
    """Base of every error Seedchain raises on purpose."""


class ConfigurationError(SeedError):
    """The database URL, schema, environment or a ``-x`` argument is unusable."""


class EnvironmentNotDeclared(ConfigurationError):
    """A database was named by URL but nobody said which environment it belongs to."""


class UnknownEnvironment(ConfigurationError):
    """An environment name is not one of the four Seedchain knows."""

    def __init__(self, name: str, source: str, valid: tuple[str, ...]) -> None:
        self.name = name
        self.source = source
        self.valid = valid
        super().__init__(
            f"unknown environment {name!r} (from {source}); use one of: {', '.join(valid)}"
        )


class DevDBError(SeedError):
    """The development database could not be installed, started, stopped or reached."""


class SeedDatabaseError(SeedError):
    """The pytest plugin's test database could not be migrated and seeded; the message says why.

    Attributes:
        revision: The revision the upgrade was aiming for.
        database: The database URL, password hidden.
    """

    def __init__(self, message: str, *, revision: str, database: str) -> None:
        self.revision = revision
        self.database = database
        super().__init__(message)


class EnvironmentBlocked(SeedError):
    """Protection refused this run: a production database and an unsafe operation."""


class LedgerMismatch(SeedError):
    """The ledger does not hold what it must (a write touched the wrong number of rows)."""

    def __init__(self, revision: str, table: str, *, expected: int, found: int) -> None:
        self.revision = revision
        self.table = table
        self.expected = expected
        self.found = found
        super().__init__(
            f"seed {revision}: ledger table {table} changed {found} rows, expected "
            f"{expected}; another process may be migrating this database, or the ledger "
            "was edited by hand; check `seeds status`"
        )


class SeedDataError(SeedError):
    """A seed's rows do not fit the table: the row, the column and the fix are named.

    Attributes:
        revision: The seed revision.
        table: The table being written.
        column: The offending column, when one is known.
        row_index: Position of the offending row in what the seed passed, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        revision: str,
        table: str,
        column: str | None = None,
        row_index: int | None = None,
    ) -> None:
        self.revision = revision
        self.table = table
        self.column = column
        self.row_index = row_index
        where = f"seed {revision}: table {table}"
        if row_index is not None:
            where += f" row {row_index}"
        if column is not None:
            where += f" column {column}"
        super().__init__(f"{where}: {message}")


class SeedFailed(SeedError):
    """A seed revision's own code or SQL failed: one line naming the revision, and the
    table, column and constraint wherever the database reported them."""


class ConnectionLost(SeedFailed):
    """The database session ended under a run: a server restart, a failover, a backend
    someone terminated. Each revision is its own transaction, so the one in progress
    went with the session and the database is at the last revision that committed.

    Attributes:
        reason: What the driver said, first line.
        revision: The seed revision that was running, when it was one.
    """

    def __init__(self, reason: str, *, revision: str | None = None, undo: bool = False) -> None:
        self.reason = reason
        self.revision = revision
        lost = f"the connection to the database was lost ({reason})"
        if revision is None:
            message = (
                f"{lost}; each revision commits whole or not at all, so the database is at "
                "the last revision that committed"
            )
        elif undo:
            message = f"seed {revision}: {lost} during the undo; nothing was removed"
        else:
            message = f"seed {revision}: {lost}; nothing of the seed was written"
        super().__init__(f"{message}: run the command again")


class OfflineUnsupported(SeedError):
    """A seed cannot be rendered as SQL (``--sql``): it needs to read the database."""


class UndoRefused(SeedError):
    """A downgrade would delete seeded rows that were changed since, or rows it cannot tie."""


class LedgerDamaged(UndoRefused):
    """The ledger's keys of a seed run no longer match what the run recorded when it closed.

    Someone deleted or edited rows of ``seed_ledger_keys``: the undo cannot tell which
    rows are the seed's, so it deletes nothing.

    Attributes:
        revision: The seed revision being undone.
        table: The seeded table whose keys do not add up.
        expected: What the run recorded (``count``, ``sum`` of integer keys, ``checksum``
            of other keys).
        found: The same facts computed from the key rows now.
    """

    def __init__(
        self, revision: str, table: str, *, expected: dict[str, int], found: dict[str, int]
    ) -> None:
        self.revision = revision
        self.table = table
        self.expected = expected
        self.found = found
        super().__init__(
            f"seed {revision}: the ledger's keys of table {table} were changed since the seed "
            f"ran (recorded {_facts(expected)}; found {_facts(found)}), so the undo cannot tell "
            "which rows are the seed's and deleted nothing; restore seed_ledger_keys from a "
            "backup and downgrade again, or remove the seed's rows by hand and `alembic stamp` "
            "the revision below it"
        )


def _facts(facts: dict[str, int]) -> str:
    return ", ".join(f"{name} {value}" for name, value in facts.items())


class AnonymizeError(SeedError):
    """``seeds anonymize`` refused to run or could not finish; the database is unchanged.

    Attributes:
        table: The table concerned, when one is.
        column: The column concerned, when one is.
    """

    def __init__(
        self, message: str, *, table: str | None = None, column: str | None = None
    ) -> None:
        self.table = table
        self.column = column
        where = "anonymize"
        if table is not None:
            where += f" {table}" + (f".{column}" if column is not None else "")
        super().__init__(f"{where}: {message}")


class GeometryError(SeedError):
    """A geometry value is unusable: wrong SRID or type, lat/lon swapped, invalid, unreadable.

    Attributes:
        reason: What is wrong and the fix, without the subject, so a caller that names
            the row and column itself (validation) can use it as is.
        value: The offending value.
        column: The column it was meant for, when known.
    """

    def __init__(
        self,
        reason: str,
        *,
        value: object = None,
        column: str | None = None,
        subject: str = "geometry",
    ) -> None:
        self.reason = reason
        self.value = value
        self.column = column
        super().__init__(f"{f'column {column!r}' if column else subject} {reason}")


class UnsupportedByDialect(SeedError):
    """The database cannot do what the seed asked (the message names the alternative)."""
