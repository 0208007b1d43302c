"""Counts and switches of the seed sets: ``[tool.seeds]`` in the project's pyproject.toml.

Top-level keys apply to every environment; ``[tool.seeds.<environment>]`` overrides
them for one. ``-x name=value`` overrides both for one run (see SeedContext.setting).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from seeds.errors import ConfigurationError
from seeds.runtime.environment import Environment


def load_settings(project_root: Path, environment: Environment) -> dict[str, Any]:
    """The settings for ``environment``; empty when there is no ``[tool.seeds]``."""
    path = project_root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(f"{path} is not valid TOML ({err}); fix the file") from err
    section = document.get("tool", {}).get("seeds", {})
    names = {e.value for e in Environment}
    # Sub-tables other than environments ([tool.seeds.anonymize]) belong to other tools.
    merged = {k: v for k, v in section.items() if k not in names and not isinstance(v, dict)}
    merged.update(section.get(environment.value, {}))
    return merged
