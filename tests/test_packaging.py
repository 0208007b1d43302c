"""What `pip install seedchain` puts into site-packages: the engine, nothing else."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.helpers import PROJECT_ROOT


def test_the_wheel_holds_the_seeds_package_alone(tmp_path: Path) -> None:
    """The reference app stays in the repository: installed, a top-level ``app`` would
    shadow the user's own ``app`` package."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q"]
        + ["-w", str(tmp_path), str(PROJECT_ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("seedchain-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "seeds",
        wheel.name.split("-")[0] + "-0.1.0.dist-info",
    }
    assert "seeds/tools/templates/seed.py.mako" in names and "seeds/py.typed" in names


def test_the_lowest_versions_ci_installs_are_the_declared_floors() -> None:
    """scripts/test-lowest pins scripts/lowest.txt; each pin must be a floor of pyproject."""
    declared = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in declared["dependencies"]:
        name, _, rest = requirement.partition(">=")
        floors[name.split("[")[0].strip()] = rest.split(",")[0].strip()  # extras aside
    pins = {}
    for line in (PROJECT_ROOT / "scripts" / "lowest.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip()] = version.split("#")[0].strip()
    assert {name: pins.get(name) for name in floors} == floors
    assert pins["psycopg-binary"] == floors["psycopg"]  # the [binary] extra, in step
