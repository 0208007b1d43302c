"""A figure of the benchmark: what was timed, on how many rows, and what it stands for."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Section(StrEnum):
    """The report's sections, in order."""

    GENERATE = "generate"
    LOAD = "load"
    COMMAND = "command"
    UNDO = "undo"
    POSTGIS = "postgis"


@dataclass(frozen=True)
class Result:
    """One strategy's figure.

    Attributes:
        section: Where it goes in the report.
        strategy: What was timed, as the report names it.
        rows: Rows it was timed on.
        seconds: Wall time of those rows.
        reported_rows: Rows the figure stands for: more than ``rows`` when a slow
            strategy was timed on fewer rows and extrapolated (its cost per row does not
            depend on the count).
        baseline: The figure the section compares with (the ratio is to this one).
        peak_rss_kib: Peak resident memory of the subprocess that ran it, if one did.
        note: Anything the reader needs to read the figure (the undo's method).
    """

    section: Section
    strategy: str
    rows: int
    seconds: float
    reported_rows: int
    baseline: bool = False
    peak_rss_kib: int | None = None
    note: str = ""

    @property
    def extrapolated(self) -> bool:
        """Timed on fewer rows than it stands for."""
        return self.rows < self.reported_rows

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    @property
    def reported_seconds(self) -> float:
        """Seconds for ``reported_rows`` (extrapolated from the rows timed)."""
        return self.reported_rows / self.rate if self.rows else 0.0


def timed(function: Callable[[], Any]) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started
