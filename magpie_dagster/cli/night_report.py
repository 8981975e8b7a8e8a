"""The table `magpie-dagster run` ends with: per model, rows at each stage and why rows were dropped; the time
each stage took; the night's curated rows, pairs, where the exports are and the file to query."""

from __future__ import annotations

import datetime as dt
import sys
from contextlib import suppress
from pathlib import Path

from rich.console import Console
from rich.table import Table

from magpie_dagster.domain import stages
from magpie_dagster.storage import curation_store, summary
from magpie_dagster.storage.warehouse import Warehouse


def print_night_report(
    console: Console,
    warehouse: Warehouse,
    night: dt.date,
    model_keys: list[str],
    catalogue_keys: list[str],
    step_seconds: dict[str, dict[str, float]],
) -> None:
    """`step_seconds`: partition label -> step -> seconds, as the run watch measured them."""
    if not warehouse.exists():
        return
    console.print(_rows_table(warehouse, night, model_keys))
    if step_seconds:
        console.print(_times_table(step_seconds))
    for key in model_keys:
        rounds = summary.rounds_summary(warehouse, key, night)
        if rounds:
            console.print(rounds, highlight=False, markup=False, soft_wrap=True)
    console.print(summary.night_summary(warehouse, night), highlight=False, markup=False, soft_wrap=True)
    if warehouse.read_copy_path and warehouse.read_copy_path.exists():
        console.print(
            f"query it with SQL (never blocks a night): {_duckdb_shell()} -readonly {warehouse.read_copy_path}",
            highlight=False, markup=False, soft_wrap=True,
        )
    left_out = curation_store.rows_of_other_models(warehouse, catalogue_keys)
    if left_out:
        console.print(summary.left_out_line(left_out), highlight=False, markup=False, soft_wrap=True)


def _duckdb_shell() -> str:
    """The `duckdb` shell installed beside this Python (the project's venv), as a path from here when it can be."""
    shell = Path(sys.executable).parent / "duckdb"
    if not shell.exists():
        return "duckdb"
    with suppress(ValueError):
        return str(shell.relative_to(Path.cwd()))
    return str(shell)


def _rows_table(warehouse: Warehouse, night: dt.date, model_keys: list[str]) -> Table:
    table = Table(title=f"rows of {night}", title_justify="left")
    for column in ("model", "instructions", "usable", "pairs", "tags judged", "tags failed", "near-dup", "curated"):
        table.add_column(column, justify="left" if column == "model" else "right")
    table.add_column("dropped (why)")
    for key in model_keys:
        counts = summary.partition_counts(warehouse, key, night)
        reasons = ", ".join(f"{reason} {count}" for reason, count in counts.drop_reasons.items()) or "-"
        numbers = (
            counts.instructions,
            counts.usable,
            counts.pairs,
            counts.judged,
            counts.judge_failed,
            counts.near_duplicates,
            counts.curated,
        )
        table.add_row(key, *(str(number) for number in numbers), reasons)
    return table


def _times_table(step_seconds: dict[str, dict[str, float]]) -> Table:
    """A row per stage in the pipeline's order (`domain/stages.py`), a column per partition (the models' and the
    night's)."""
    order = {asset.name: position for position, asset in enumerate(stages.ASSETS)}
    seen = dict.fromkeys(step for seconds in step_seconds.values() for step in seconds)
    steps = sorted(seen, key=lambda step: order.get(step, len(order)))
    table = Table(title="seconds per stage", title_justify="left")
    table.add_column("stage")
    for partition in step_seconds:
        table.add_column(partition, justify="right")
    for step in steps:
        cells = (f"{seconds[step]:.1f}" if step in seconds else "-" for seconds in step_seconds.values())
        table.add_row(step, *cells)
    return table
