"""The shipped production instance (`deploy/dagster.yaml`) on a real PostgreSQL: runs and events are stored there,
runs are queued, one run per partition (model x date, or night) at a time, a bounded number in total, and a run
whose worker died is launched again."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.tags import TagConcurrencyLimitsCounter  # the queue daemon's own check

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster_tests.postgres import postgres_server

SHIPPED = Path(__file__).parent.parent / "deploy" / "dagster.yaml"
NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2}
  - {key: beta, engine: llama_cpp, model: b.gguf, template: qwen2.5}
"""


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as server:
        yield server


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
    assert not queue.is_blocked(runs("magpie_job", model_date_key("alpha", NIGHT + dt.timedelta(1))))
    assert not queue.is_blocked(runs("nightly_curation_job", (NIGHT + dt.timedelta(1)).isoformat()))
