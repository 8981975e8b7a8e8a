"""`magpie-dagster plan --start D1 --end D2 [--models a,b]`: tokens, engine hours and money a backfill will take.

Projected from the cost ledger before anything runs: each model's measured spend per planned sample (over its
partitions in the warehouse, every stage and attempt) times the samples its catalogue entry plans for the nights
not generated yet (with a row target: what its measured yield says the target takes). Nothing is written; a model
never run yet is listed with how to measure it.
"""

from __future__ import annotations

import argparse
import datetime as dt

from magpie_dagster.cli.configured import configured_warehouse
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.costs.planning import project, render_plan
from magpie_dagster.domain.rounds.targets import first_round_samples
from magpie_dagster.settings import catalogue_path
from magpie_dagster.storage import costs_store, rounds_store
from magpie_dagster.storage.warehouse import Warehouse


def add_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "plan", help="project the tokens, engine hours and money of a backfill from the cost ledger's measured rates"
    )
    command.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first night, YYYY-MM-DD")
    command.add_argument("--end", type=dt.date.fromisoformat, required=True, help="last night, YYYY-MM-DD")
    command.add_argument("--models", help="comma-separated catalogue keys (default: every model)")


def plan(arguments: argparse.Namespace) -> int:
    if arguments.end < arguments.start:
        raise ValueError(f"--end {arguments.end} is before --start {arguments.start}")
    catalogue = load_catalogue(catalogue_path())
    keys = arguments.models.split(",") if arguments.models else list(catalogue.model_keys)
    entries = [catalogue.entry(key.strip()) for key in keys]
    warehouse = configured_warehouse()
    rates = costs_store.measured_rates(warehouse)
    nights = (arguments.end - arguments.start).days + 1
    projections = [
        project(
            entry.key,
            rates.get(entry.key),
            _samples_per_night(catalogue, entry, warehouse, arguments.start),
            nights,
            costs_store.generated_nights(warehouse, entry.key, arguments.start, arguments.end),
        )
        for entry in entries
    ]
    print(f"backfill {arguments.start} .. {arguments.end} ({nights} nights), projected from the cost ledger:")
    print(render_plan(projections))
    return 0 if any(projection.rate is not None for projection in projections) else 1


def _samples_per_night(catalogue, entry, warehouse: Warehouse, start: dt.date) -> int:
    """The entry's `instructions_per_batch`; with a row target, the samples its measured yield says the target
    takes (as round 1 of a night plans them), when earlier nights measured one."""
    target = catalogue.target_of(entry.key)
    if target is None or not warehouse.exists():
        return entry.instructions_per_batch
    measured = rounds_store.measured_yield(warehouse, entry.key, dt.date.max)
    return first_round_samples(target, entry.instructions_per_batch, measured)
