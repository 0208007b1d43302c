"""The project a command runs in: its folder, its Alembic config, its database.

Shared by the ``seeds`` command and the Flask group, so both find the project,
read ``-x`` pairs and pick the database exactly as ``alembic`` does.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from alembic.config import Config

from seeds.errors import ConfigurationError
from seeds.runtime.database import Target, find_project_root, resolve_target


def project_root() -> Path:
    """The folder holding alembic.ini, at or above the working folder."""
    return find_project_root()


def target_for(schema: str | None) -> Target:
    """The database of this command (DATABASE_URL, else the local one) and its schema."""
    x_args = {"schema": schema} if schema else {}
    return resolve_target(x_args, os.environ, project_root())


def parse_x_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("env=production", ...)`` as a dictionary, like ``alembic -x``."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"-x {pair!r} is not KEY=VALUE; e.g. -x env=production")
        parsed[key.strip()] = value.strip()
    return parsed


def alembic_config(x_args: dict[str, str]) -> Config:
    """The project's Alembic config, carrying ``x_args`` as if given with ``-x``."""
    config = Config(str(project_root() / "alembic.ini"))
    config.cmd_opts = argparse.Namespace(x=[f"{k}={v}" for k, v in x_args.items()])
    return config
