"""`magpie-dagster run`: materialise the main job for one date partition of each catalogue model (and `prune`,
`compact`: warehouse housekeeping; `eval-judge`: measure the judge; `probe`: check a model's template;
`plan`: project a backfill's cost).

Runs are recorded in the Dagster instance at $DAGSTER_HOME (default `data/dagster_home`), so
`DAGSTER_HOME=$PWD/data/dagster_home dagster dev` shows them in the UI afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import dagster as dg

from magpie_dagster.defs.assets.generation import fresh_run_config
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.eval_judge import add_command as add_eval_judge
from magpie_dagster.defs.eval_judge import eval_judge
from magpie_dagster.defs.jobs import MAGPIE_JOB, NIGHTLY_CURATION_JOB
from magpie_dagster.defs.night_driver import drive_night
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.plan_command import add_command as add_plan
from magpie_dagster.defs.plan_command import plan
from magpie_dagster.defs.probe_command import add_command as add_probe
from magpie_dagster.defs.probe_command import probe
from magpie_dagster.defs.runner import run_partition
from magpie_dagster.domain.catalogue import CatalogueError, load_catalogue
from magpie_dagster.domain.completion import EngineError
from magpie_dagster.domain.generation.sampling_plan import partition_label
from magpie_dagster.domain.judging.evaluation import EvalSetError
from magpie_dagster.settings import catalogue_path, warehouse_location, warehouse_options
from magpie_dagster.storage import curation_store, summary
from magpie_dagster.storage.errors import WarehouseError
from magpie_dagster.storage.maintenance import compact
from magpie_dagster.storage.prune import prune_model
from magpie_dagster.storage.warehouse import Warehouse

DEFAULT_DAGSTER_HOME = Path("data") / "dagster_home"
TERMINATED = 128 + 15  # the shell's exit code for a process ended by SIGTERM


def main(argv: list[str] | None = None) -> int:
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
    prune = commands.add_parser("prune", help="delete every row of a model key that is no longer in the catalogue")
    prune.add_argument("--model", required=True, help="the model key whose rows to delete")
    compact = commands.add_parser(
        "compact", help="compact a DuckLake warehouse after a backfill: merge small files, expire old snapshots"
    )
    compact.add_argument("--keep-days", type=int, default=7, help="days of snapshots kept for time travel (7)")
    add_eval_judge(commands)
    add_probe(commands)
    add_plan(commands)
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "eval-judge":
            return eval_judge(arguments)
        if arguments.command == "probe":
            return probe(arguments)
        if arguments.command == "plan":
            return plan(arguments)
        if arguments.command == "prune":
            return _prune(arguments.model)
        if arguments.command == "compact":
            return _compact(arguments.keep_days)
        return _run(arguments.date, arguments.models, arguments.fresh)
    except (CatalogueError, WarehouseError, EngineError, EvalSetError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2


def _compact(keep_days: int) -> int:
    warehouse = _warehouse()
    warehouse.check()
    done = compact(warehouse, keep_days)
    print(
        f"compacted {warehouse.label}: data files {done.before.data_files} -> {done.after.data_files}, "
        f"snapshots {done.before.snapshots} -> {done.after.snapshots} (kept {keep_days} days for time travel)"
    )
    return 0


def _prune(model_key: str) -> int:
    catalogue = load_catalogue(catalogue_path())
    if model_key in catalogue.model_keys:
        raise CatalogueError(
            f"{model_key!r} is still in the catalogue {catalogue_path()}: remove it there first, then prune its rows."
        )
    warehouse = _warehouse()
    warehouse.check()
    removed = prune_model(warehouse, model_key)
    total = sum(removed.values())
    details = ", ".join(f"{table} {count}" for table, count in removed.items() if count)
    print(f"pruned model {model_key!r}: {total} rows deleted" + (f" ({details})" if details else ""))
    return 0


def _run(partition_date: dt.date, models: str | None, fresh: bool = False) -> int:
    catalogue = load_catalogue(catalogue_path())
    model_keys = models.split(",") if models else catalogue.model_keys
    for key in model_keys:
        catalogue.entry(key)
    if partition_date < catalogue.start_date:
        raise CatalogueError(f"--date {partition_date} is before the catalogue's start_date {catalogue.start_date}")
    _warehouse().check()
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME.resolve())))
    home.mkdir(parents=True, exist_ok=True)
    night = _Night(partition_date, "llama_cpp" in catalogue.engines_in_use)
    with dg.DagsterInstance.get() as instance:
        drive_night(
            catalogue,
            _warehouse(),
            partition_date,
            model_keys,
            run_models=lambda keys, passes: night.run_models(instance, keys, fresh and passes == 1),
            curate=lambda: night.curate(instance),
        )
    if night.terminated:
        return TERMINATED
    _print_summary(partition_date, model_keys, catalogue.model_keys)
    for line in night.failures:
        print(f"FAILED {line}", file=sys.stderr)
    return max(night.exit_codes)  # 2 when a write failed at the disk, 1 when a step failed


class _Night:
    """One night's runs from the CLI: the model partitions of a round, then the night's curation."""

    def __init__(self, partition_date: dt.date, uses_llama_cpp: bool) -> None:
        self.date = partition_date
        self.uses_llama_cpp = uses_llama_cpp
        self.failures: list[str] = []
        self.exit_codes = [0]
        self.terminated = False

    def run_models(self, instance: dg.DagsterInstance, model_keys: list[str], fresh: bool) -> bool:
        """False when a signal terminated a run (the night stops; a re-run resumes)."""
        job = dg.reconstructable(magpie_job)
        for key in model_keys:
            print(f"materialising {MAGPIE_JOB} for model {key}, date {self.date} ...", flush=True)
            outcome = run_partition(
                job,
                instance,
                model_date_key(key, self.date),
                partition_label(key, self.date),
                run_config=fresh_run_config() if fresh else None,
            )
            self._record(outcome)
            if outcome.terminated:
                print(
                    f"terminated by a signal during partition {outcome.partition} (run {outcome.run_id}): the "
                    "batches stored before are kept; run the same command again to resume.",
                    file=sys.stderr,
                )
                self.terminated = True
                return False
        return True

    def curate(self, instance: dg.DagsterInstance) -> bool:
        """False when curation failed: a round that is not closed plans no next one."""
        print(f"materialising {NIGHTLY_CURATION_JOB} for {self.date} (all models) ...", flush=True)
        outcome = run_partition(
            dg.reconstructable(nightly_curation_job), instance, self.date.isoformat(), f"night {self.date.isoformat()}"
        )
        self._record(outcome)
        return outcome.success

    def _record(self, outcome) -> None:
        self.failures += outcome.failure_lines(self.uses_llama_cpp)
        self.exit_codes.append(outcome.exit_code)


def magpie_job() -> dg.JobDefinition:
    """The per-model job, rebuilt from the catalogue in each step's process (`dg.reconstructable`)."""
    return _definitions().resolve_job_def(MAGPIE_JOB)


def nightly_curation_job() -> dg.JobDefinition:
    return _definitions().resolve_job_def(NIGHTLY_CURATION_JOB)


def _definitions() -> dg.Definitions:
    return build_definitions(catalogue_path(), warehouse_location(), **warehouse_options())


def _warehouse() -> Warehouse:
    return Warehouse(warehouse_location(), **warehouse_options())


def _print_summary(partition_date: dt.date, model_keys: list[str], catalogue_keys: list[str]) -> None:
    warehouse = _warehouse()
    if not warehouse.exists():
        return
    for key in model_keys:
        print(summary.partition_summary(warehouse, key, partition_date))
        rounds = summary.rounds_summary(warehouse, key, partition_date)
        if rounds:
            print(rounds)
    print(summary.night_summary(warehouse, partition_date))
    left_out = curation_store.rows_of_other_models(warehouse, catalogue_keys)
    if left_out:
        print(summary.left_out_line(left_out))


if __name__ == "__main__":
    sys.exit(main())
