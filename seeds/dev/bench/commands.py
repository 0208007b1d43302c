"""The reference app's ``alembic`` in a subprocess: wall time and the child's peak memory.

The whole command is what a developer runs (``alembic -x users=N upgrade head`` in
development), so it is timed as a process of its own: interpreter start, imports,
schema, every seed revision, commits. Its peak resident memory is the child's own
(``os.wait4`` on its pid), not this process's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from seeds.errors import SeedError

# Where the development seeds start: downgrading to it undoes 0007 and 0008 (and the
# schema revision after them).
BEFORE_DEVELOPMENT_SEEDS = "0006"
PEOPLE_SEED = "0007"  # the seed that writes the users


@dataclass(frozen=True)
class Finished:
    """A finished command: wall seconds, peak resident memory in KiB, what it logged."""

    seconds: float
    peak_rss_kib: int
    output: str


def alembic(root: Path, url: str, *args: str, x: Mapping[str, object] | None = None) -> Finished:
    """Run ``alembic -x env=development [-x k=v ...] ARGS`` in ``root`` on ``url``.

    Raises:
        SeedError: The command failed (its last line says why).
    """
    x_args = [f"-x{name}={value}" for name, value in {"env": "development", **(x or {})}.items()]
    command = [sys.executable, "-m", "alembic", *x_args, *args]
    environ = {k: v for k, v in os.environ.items() if k not in {"APP_ENV", "SCHEMA"}}
    environ["DATABASE_URL"] = url
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=root, env=environ, stdout=output, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if process.returncode != 0:
        lines = text.strip().splitlines() or ["(no output)"]
        raise SeedError(f"alembic {' '.join(args)} failed ({process.returncode}): {lines[-1]}")
    # ru_maxrss is in KiB on Linux.
    return Finished(seconds, usage.ru_maxrss, text)


def undo_method(output: str, revision: str = PEOPLE_SEED) -> str:
    """How the undo of ``revision`` removed its rows and why, as its log says."""
    marker = f"seed {revision}: "
    for line in output.splitlines():
        _, found, said = line.partition(marker)
        if found and said.startswith(("TRUNCATE", "keyed delete")):
            head = said.split("; removes")[0]
            method = "TRUNCATE" if head.startswith("TRUNCATE") else "keyed delete"
            _, _, reason = head.partition(" (")
            return f"{method}: {reason.removesuffix(')')}" if reason else method
    return "not logged"
