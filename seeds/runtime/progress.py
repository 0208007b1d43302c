"""Progress of a long load: a bar with rows/s and ETA on a terminal, log lines elsewhere.

A million-row seed runs for seconds to minutes; the person at the terminal sees each
table's bar (rich), a deploy pipeline's log gets a line at most every few seconds.
Short loads (under one chunk) show nothing: they finish before anyone would look.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger(__name__)

# Seconds between two log lines of one load when there is no terminal.
LOG_EVERY = 5.0


class Progress:
    """How far one load into one table has come.

    Args:
        revision: The seed revision loading.
        table: The table's name.
        expected: How many rows will come, when known (for the ETA).
    """

    def __init__(self, revision: str, table: str, expected: int | None) -> None:
        self.revision = revision
        self.table = table
        self.expected = expected
        self.rows = 0
        self._started = time.monotonic()
        self._logged = self._started
        self._bar: object | None = None
        self._task: object | None = None

    def advance(self, rows: int) -> None:
        """Count ``rows`` more as written."""
        self.rows += rows
        now = time.monotonic()
        if sys.stderr.isatty():
            self._draw()
        elif now - self._logged >= LOG_EVERY:
            self._logged = now
            log.info("seed %s: %s", self.revision, self.describe(now))

    def describe(self, now: float | None = None) -> str:
        """``table: rows so far (of expected), rows/s, ETA`` as one line."""
        elapsed = max((now or time.monotonic()) - self._started, 1e-9)
        rate = self.rows / elapsed
        text = f"{self.table}: {self.rows:,} rows"
        if self.expected:
            text += f" of {self.expected:,}"
        text += f", {rate:,.0f} rows/s"
        if self.expected and rate > 0 and self.rows < self.expected:
            text += f", about {(self.expected - self.rows) / rate:,.0f} s to go"
        return text

    def close(self) -> None:
        """The load is done: take the bar off the terminal."""
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]
            self._bar = None

    def _draw(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        if self._bar is None:
            bar = Bar(
                TextColumn(f"seed {self.revision} {self.table}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]} rows/s"),
                TimeRemainingColumn(),
                transient=True,
            )
            bar.start()
            self._task = bar.add_task(self.table, total=self.expected, rate="0")
            self._bar = bar
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self._bar.update(  # type: ignore[attr-defined]
            self._task, completed=self.rows, rate=f"{self.rows / elapsed:,.0f}"
        )
