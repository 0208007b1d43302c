"""The report as one PNG: a panel per section, speeds on a log scale, ratios on the bars."""

from __future__ import annotations

import textwrap
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from seeds.dev.bench.report import TITLES, ratio
from seeds.dev.bench.results import Result, Section

SEEDCHAIN = "#2a7ab0"
OTHER = "#9aa5b1"
LIMIT_COLOUR = "#3c9d5d"


def _colour(result: Result) -> str:
    if result.strategy.startswith("Limit"):
        return LIMIT_COLOUR
    ours = "Seedchain" in result.strategy or result.strategy.startswith("alembic")
    return SEEDCHAIN if ours else OTHER


def _label(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 34))


def _rates(ax: Axes, section: Section, results: list[Result]) -> None:
    chosen = [r for r in results if r.section is section]
    ax.set_title(TITLES[section].split(": ")[0].replace("`", ""), loc="left", fontsize=10)
    if not chosen:
        ax.set_axis_off()
        return
    baseline = next((r for r in chosen if r.baseline), chosen[0])
    positions = list(range(len(chosen)))[::-1]
    bars = ax.barh(
        positions,
        [r.rate for r in chosen],
        color=[_colour(r) for r in chosen],
        hatch=["//" if r.extrapolated else "" for r in chosen],
        edgecolor="white",
    )
    ax.set_yticks(positions, [_label(r.strategy) for r in chosen], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("rows/s (log scale; hatched: extrapolated)", fontsize=7)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=7)
    ax.bar_label(bars, [f" {ratio(r.rate / baseline.rate)}" for r in chosen], fontsize=7)
    ax.set_xlim(min(r.rate for r in chosen) / 4, max(r.rate for r in chosen) * 8)


def _commands(ax: Axes, results: list[Result]) -> None:
    chosen = [r for r in results if r.section is Section.COMMAND]
    ax.set_title("3. The whole command vs the limit", loc="left", fontsize=10)
    commands = [r for r in chosen if not r.baseline]
    if not commands:
        ax.set_axis_off()
        return
    limits = {r.rows: r for r in chosen if r.baseline}
    positions = list(range(len(commands)))[::-1]
    height = 0.38
    ran = ax.barh(
        [p + height / 2 for p in positions],
        [r.seconds for r in commands],
        height,
        color=SEEDCHAIN,
        label="alembic upgrade head",
    )
    ax.barh(
        [p - height / 2 for p in positions],
        [limits[r.rows].seconds for r in commands],
        height,
        color=LIMIT_COLOUR,
        label="limit (generate_series)",
    )
    ax.bar_label(
        ran,
        [f" {ratio(r.seconds / limits[r.rows].seconds)} the limit" for r in commands],
        fontsize=7,
    )
    ax.set_yticks(positions, [f"{r.rows:,} users" for r in commands], fontsize=7)
    ax.set_xlabel("seconds", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlim(right=max(r.seconds for r in commands) * 1.6)
    ax.legend(fontsize=7, loc="lower right")


def draw(results: list[Result], details: dict[str, str], path: Path) -> None:
    """Write the chart of ``results`` to ``path`` (PNG)."""
    figure = Figure(figsize=(15, 9), layout="constrained")
    axes = figure.subplots(2, 3)
    _rates(axes[0][0], Section.GENERATE, results)
    _rates(axes[0][1], Section.LOAD, results)
    _commands(axes[0][2], results)
    _rates(axes[1][0], Section.UNDO, results)
    _rates(axes[1][1], Section.POSTGIS, results)
    about = axes[1][2]
    about.set_axis_off()
    keys = ["date", "cpu", "cores", "memory", "python", "PostgreSQL", "PostGIS", "SQLAlchemy"]
    text = "\n".join(f"{key}: {details[key]}" for key in keys if key in details)
    about.text(0, 1, text, va="top", fontsize=8, family="monospace")
    figure.suptitle(
        "Seedchain benchmarks, one run: ratios to each panel's baseline (naive Faker, "
        "the classic seeder, DELETE, one INSERT per store)"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
