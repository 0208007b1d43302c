"""What the figures were measured on: the machine and every version that matters."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

PACKAGES = [
    "SQLAlchemy",
    "psycopg",
    "alembic",
    "Faker",
    "numpy",
    "GeoAlchemy2",
    "factory_boy",
    "matplotlib",
]


def _cpu() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(meminfo.read_text().split()[1])
        return f"{kib / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(url: str) -> dict[str, str]:
    """The machine, the server at ``url`` (with PostGIS) and the Python packages."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            server = conn.scalar(sa.select(sa.func.current_setting("server_version")))
            postgis = conn.scalar(sa.select(sa.func.postgis_lib_version()))
    finally:
        engine.dispose()
    details = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu(),
        "cores": str(os.cpu_count()),
        "memory": _memory(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "PostgreSQL": str(server),
        "PostGIS": str(postgis),
    }
    details.update({package: _version(package) for package in PACKAGES})
    return details
