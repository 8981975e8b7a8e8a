"""`magpie-dagster`: run a night (`run`), open the UI (`ui`), keep the warehouse (`prune`, `compact`), measure the
judge (`eval-judge`), check a model's template (`probe`), project a backfill's cost (`plan`)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from magpie_dagster.cli import eval_judge, housekeeping, plan, probe, ui
from magpie_dagster.cli.run_command import run_night
from magpie_dagster.domain.catalogue import CatalogueError
from magpie_dagster.domain.completion import EngineError
from magpie_dagster.domain.tagging.evaluation import EvalSetError
from magpie_dagster.storage.errors import WarehouseError


def build_parser() -> argparse.ArgumentParser:
    """Every command and option (the docs' commands are checked against it)."""
    parser = argparse.ArgumentParser(prog="magpie-dagster", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="materialise the main job for one date, for each catalogue model")
    run.add_argument("--date", type=dt.date.fromisoformat, default=dt.date.today(), help="YYYY-MM-DD (today)")
    run.add_argument("--models", help="comma-separated catalogue keys (default: every model)")
    run.add_argument(
        "--fresh",
        action="store_true",
        help="regenerate every instruction and response, even those stored with unchanged inputs",
    )
    run.add_argument("--verbose", action="store_true", help="print Dagster's event log here instead of progress bars")
    prune = commands.add_parser("prune", help="delete every row of a model key that is no longer in the catalogue")
    prune.add_argument("--model", required=True, help="the model key whose rows to delete")
    compact = commands.add_parser(
        "compact", help="compact a DuckLake warehouse after a backfill: merge small files, expire old snapshots"
    )
    compact.add_argument("--keep-days", type=int, default=7, help="days of snapshots kept for time travel (7)")
    eval_judge.add_command(commands)
    probe.add_command(commands)
    plan.add_command(commands)
    ui.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        if arguments.command == "eval-judge":
            return eval_judge.eval_judge(arguments)
        if arguments.command == "probe":
            return probe.probe(arguments)
        if arguments.command == "plan":
            return plan.plan(arguments)
        if arguments.command == "ui":
            return ui.ui(arguments)
        if arguments.command == "prune":
            return housekeeping.prune(arguments.model)
        if arguments.command == "compact":
            return housekeeping.compact_warehouse(arguments.keep_days)
        return run_night(arguments.date, arguments.models, arguments.fresh, arguments.verbose)
    except (CatalogueError, WarehouseError, EngineError, EvalSetError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
