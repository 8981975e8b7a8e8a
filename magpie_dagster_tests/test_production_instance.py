"""The shipped production instance (`deploy/dagster.yaml`) on a real PostgreSQL: runs and events are stored there,
runs are queued, one run per partition (model x date, or night) and per model at a time, a bounded number in total,
a run whose worker died is launched again, and a backfill through the real daemon keeps to the engine pool."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.tags import TagConcurrencyLimitsCounter  # the queue daemon's own check

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.pools import ENGINE_POOL

SHIPPED = Path(__file__).parent.parent / "deploy" / "dagster.yaml"
NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2}
  - {key: beta, engine: llama_cpp, model: b.gguf, template: qwen2.5}
"""


@pytest.fixture
def instance(tmp_path, postgres, monkeypatch):
    for name, value in postgres.environment().items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(SHIPPED, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as loaded:
        yield loaded


def test_runs_and_their_events_are_stored_in_postgresql(instance, postgres):
    @dg.asset
    def probe() -> int:
        return 1

    result = dg.materialize([probe], instance=instance)
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert postgres.query(f"SELECT count(*) FROM runs WHERE run_id = '{result.run_id}'") == "1"
    assert int(postgres.query(f"SELECT count(*) FROM event_logs WHERE run_id = '{result.run_id}'")) > 5


@pytest.fixture
def runs(tmp_path):
    """A run of a partition as Dagster tags it, for each job."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    defs = build_definitions(catalogue, tmp_path / "magpie.duckdb")

    def run(job_name: str, partition_key) -> dg.DagsterRun:
        tags = defs.resolve_job_def(job_name).partitions_def.get_tags_for_partition_key(partition_key)
        return dg.DagsterRun(job_name=job_name, tags=tags)

    return run


def test_runs_are_queued_with_a_total_limit_and_retried_when_their_worker_dies(instance):
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert not instance.run_retries_retry_on_asset_or_op_failure, "step failures are the RetryPolicy's"


def test_a_second_run_of_a_partition_waits_while_other_partitions_start(instance, runs):
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    alpha = runs("magpie_job", model_date_key("alpha", NIGHT))
    night = runs("nightly_curation_job", NIGHT.isoformat())
    queue = TagConcurrencyLimitsCounter(limits, [alpha, night])
    assert queue.is_blocked(runs("magpie_job", model_date_key("alpha", NIGHT)))
    assert queue.is_blocked(runs("nightly_curation_job", NIGHT.isoformat()))
    assert not queue.is_blocked(runs("magpie_job", model_date_key("beta", NIGHT)))
    assert queue.is_blocked(runs("magpie_job", model_date_key("alpha", NIGHT + dt.timedelta(1)))), "one per model"
    assert not queue.is_blocked(runs("nightly_curation_job", (NIGHT + dt.timedelta(1)).isoformat()))


def test_runs_that_drive_a_model_share_one_pool_slot_by_default(instance):
    pools = instance.get_concurrency_config().pool_config
    assert pools.pool_granularity.value == "run" and pools.default_pool_limit == 1


@pytest.mark.slow
@pytest.mark.timeout(1200)  # the backfill's own wait (900 s) fails first, with the runs' states
def test_a_backfill_through_the_real_daemon_runs_in_parallel_within_the_engine_pool(tmp_path, postgres):
    """Four partitions of three models backfilled at once, with the `model_engine` pool at 2 (two GPUs or
    servers): the daemon runs two run workers at a time, never three (the tag limits alone would start alpha,
    beta and gamma together), and never two runs of one model (alpha's nights one after the other)."""
    server = dataclasses.replace(postgres, database="backfill")
    postgres.query("CREATE DATABASE backfill")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(SHIPPED, home / "dagster.yaml")
    catalogue = tmp_path / "catalogue.yaml"
    # The backfill alone: the nightly schedule and automation stay stopped, or a run crossing 02:00 UTC would add one.
    catalogue.write_text(
        CATALOGUE.replace("}", ", instructions_per_batch: 4}")
        + "  - {key: gamma, engine: llama_cpp, model: c.gguf, template: smollm2, instructions_per_batch: 4}\n"
        + "nightly: false\n"
    )
    workspace = tmp_path / "workspace.yaml"
    repository = Path(__file__).parent.parent
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: magpie_dagster_tests.daemon_location\n"
        f"      working_directory: {repository}\n"
    )
    environment = {
        **os.environ,
        **server.environment(),
        "DAGSTER_HOME": str(home),
        "MAGPIE_CATALOGUE": str(catalogue),
        "MAGPIE_WAREHOUSE": str(tmp_path / "data" / "magpie.duckdb"),
        "PYTHONPATH": str(repository),
    }
    alpha = [model_date_key("alpha", NIGHT), model_date_key("alpha", NIGHT + dt.timedelta(1))]
    partitions = [*alpha, model_date_key("beta", NIGHT), model_date_key("gamma", NIGHT)]
    bin_directory = Path(sys.executable).parent
    daemon = subprocess.Popen(
        [bin_directory / "dagster-daemon", "run", "-w", workspace], env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        # As docs/scaling.md says: the pool's limit is set once, before the first run is queued (the daemon only applies
        # `default_limit` to a pool from its second pass over the queue).
        subprocess.run(
            [bin_directory / "dagster", "instance", "concurrency", "set", ENGINE_POOL, "2"],
            env=environment, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [bin_directory / "dagster", "job", "backfill", "-w", workspace, "-j", "magpie_job", "--noprompt",
             "--partitions", ",".join(partitions)],
            env=environment, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        records = _wait_for_runs(server, home, count=len(partitions), timeout_s=900)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    assert sorted(record.dagster_run.tags["dagster/partition"] for record in records) == sorted(partitions)
    assert {record.dagster_run.status for record in records} == {dg.DagsterRunStatus.SUCCESS}
    assert all(ENGINE_POOL in record.dagster_run.run_op_concurrency.all_pools for record in records)
    spans = {record.dagster_run.tags["dagster/partition"]: (record.start_time, record.end_time) for record in records}
    most_at_once = max(sum(start <= moment < end for start, end in spans.values()) for moment, _ in spans.values())
    assert most_at_once == 2, f"expected two runs at a time (the pool's limit), saw at most {most_at_once}: {spans}"
    first, second = sorted(spans[key] for key in alpha)
    assert second[0] >= first[1], f"alpha's two nights overlapped: {first} and {second}"


def _wait_for_runs(server, home: Path, count: int, timeout_s: float) -> list:
    previous = os.environ.copy()
    os.environ.update(server.environment())
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                records = instance.get_run_records()
                if len(records) == count and all(record.dagster_run.is_finished for record in records):
                    return records
                time.sleep(2)
            states = [(r.dagster_run.tags.get("dagster/partition"), r.dagster_run.status.value) for r in records]
            raise AssertionError(f"the backfill did not finish in {timeout_s:.0f} s: {states}")
    finally:
        os.environ.clear()
        os.environ.update(previous)
