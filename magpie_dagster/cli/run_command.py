"""`magpie-dagster run`: one night, every catalogue model (or `--models`), then the night's curation.

Each partition is a Dagster run recorded in the instance at $DAGSTER_HOME (default `data/dagster_home`), so
`magpie-dagster ui` shows them afterwards. The terminal gets a line per stage; Dagster's own event log goes to
`$DAGSTER_HOME/logs/night-<date>.log` (and the UI's run page), or to the terminal with `--verbose`.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TextIO

import dagster as dg
from rich.console import Console

from magpie_dagster.cli.configured import configured_warehouse
from magpie_dagster.cli.instance_home import dagster_home
from magpie_dagster.cli.live_view import open_view
from magpie_dagster.cli.night_driver import drive_night
from magpie_dagster.cli.night_report import print_night_report
from magpie_dagster.cli.run_watch import RunWatch
from magpie_dagster.cli.runner import PartitionOutcome, run_partition
from magpie_dagster.defs.assets.generation import fresh_run_config
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.jobs import MAGPIE_JOB, NIGHTLY_CURATION_JOB
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.domain.catalogue import CatalogueError, load_catalogue
from magpie_dagster.domain.generation.sampling_plan import partition_label
from magpie_dagster.settings import catalogue_path, warehouse_location, warehouse_options

TERMINATED = 128 + 15  # the shell's exit code for a process ended by SIGTERM
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the event log still has all
VERBOSE_CONSOLE = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}


def run_night(partition_date: dt.date, models: str | None, fresh: bool = False, verbose: bool = False) -> int:
    catalogue = load_catalogue(catalogue_path())
    model_keys = models.split(",") if models else catalogue.model_keys
    for key in model_keys:
        catalogue.entry(key)
    if partition_date < catalogue.start_date:
        raise CatalogueError(f"--date {partition_date} is before the catalogue's start_date {catalogue.start_date}")
    warehouse = configured_warehouse()
    warehouse.check()
    log_path = dagster_home() / "logs" / f"night-{partition_date.isoformat()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"Dagster's event log: {log_path}" + ("" if verbose else " (--verbose prints it here)"), flush=True)
    with ExitStack() as stack:
        instance = stack.enter_context(dg.DagsterInstance.get())
        log = stack.enter_context(log_path.open("a", encoding="utf-8"))
        if not verbose:
            stack.enter_context(_step_processes_write_to(log))
        view = stack.enter_context(open_view(sys.stdout, plain=verbose))
        night = _Night(partition_date, "llama_cpp" in catalogue.engines_in_use, instance, view, log, verbose)
        drive_night(
            catalogue,
            warehouse,
            partition_date,
            model_keys,
            run_models=lambda keys, passes: night.run_models(keys, fresh and passes == 1),
            curate=night.curate,
            announce=view.say,
        )
    if night.terminated:
        return TERMINATED
    console = Console()
    if not console.is_terminal:
        console.width = 160  # a log file is as wide as the table
    print_night_report(console, warehouse, partition_date, model_keys, catalogue.model_keys, night.step_seconds)
    for line in night.failures:
        print(f"FAILED {line}", file=sys.stderr)
    return max(night.exit_codes)  # 2 when a write failed at the disk, 1 when a step failed


class _Night:
    """One night's runs from the CLI: the model partitions of a round, then the night's curation."""

    def __init__(self, night: dt.date, uses_llama_cpp: bool, instance, view, log: TextIO, verbose: bool) -> None:
        self.date = night
        self.uses_llama_cpp = uses_llama_cpp
        self.instance = instance
        self.view = view
        self.log = log
        self.verbose = verbose
        self.failures: list[str] = []
        self.exit_codes = [0]
        self.terminated = False
        self.step_seconds: dict[str, dict[str, float]] = {}

    def run_models(self, model_keys: list[str], fresh: bool) -> bool:
        """False when a signal terminated a run (the night stops; a re-run resumes)."""
        job = dg.reconstructable(magpie_job)
        for key in model_keys:
            label = partition_label(key, self.date)
            outcome = self._run(job, model_date_key(key, self.date), label, fresh_run_config() if fresh else {})
            if outcome.terminated:
                print(
                    f"terminated by a signal during partition {outcome.partition} (run {outcome.run_id}): the "
                    "batches stored before are kept; run the same command again to resume.",
                    file=sys.stderr,
                )
                self.terminated = True
                return False
        return True

    def curate(self) -> bool:
        """False when curation failed: a round that is not closed plans no next one."""
        job = dg.reconstructable(nightly_curation_job)
        return self._run(job, self.date.isoformat(), f"night {self.date.isoformat()}", {}).success

    def _run(self, job, partition_key: str, label: str, run_config: dict) -> PartitionOutcome:
        if self.verbose:
            self.view.say(f"materialising partition {label} ...")
        run_config = {**run_config, **(VERBOSE_CONSOLE if self.verbose else QUIET_CONSOLE)}
        with RunWatch(self.instance, label, self.view, self.log) as watch:
            outcome = run_partition(job, self.instance, partition_key, label, run_config, watch.tags)
        self.step_seconds[label] = {**self.step_seconds.get(label, {}), **watch.step_seconds}
        self.failures += outcome.failure_lines(self.uses_llama_cpp)
        self.exit_codes.append(outcome.exit_code)
        return outcome


@contextmanager
def _step_processes_write_to(log: TextIO) -> Iterator[None]:
    """Points file descriptor 2 at the night's log while the night runs, so what the step processes (which inherit
    it) print there goes to the log: Dagster's start line per step process, engine libraries' warnings, a native
    crash's report. This process keeps writing its own errors to the terminal."""
    sys.stderr.flush()
    terminal = os.dup(2)
    os.dup2(log.fileno(), 2)
    own_errors = sys.stderr
    with open(terminal, "w", buffering=1, encoding=own_errors.encoding, errors="backslashreplace") as errors:
        sys.stderr = errors
        try:
            yield
        finally:
            errors.flush()
            os.dup2(terminal, 2)
            sys.stderr = own_errors


def magpie_job() -> dg.JobDefinition:
    """The per-model job, rebuilt from the catalogue in each step's process (`dg.reconstructable`)."""
    return _definitions().resolve_job_def(MAGPIE_JOB)


def nightly_curation_job() -> dg.JobDefinition:
    return _definitions().resolve_job_def(NIGHTLY_CURATION_JOB)


def _definitions() -> dg.Definitions:
    return build_definitions(catalogue_path(), warehouse_location(), **warehouse_options())
