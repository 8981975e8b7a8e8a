"""A step whose engine dies by SIGSEGV fails alone: the run says which partition, step and signal, and what to
try, and another model's partition of the same night still succeeds. Real multiprocess runs on a real instance."""

from __future__ import annotations

import datetime as dt
import os
import textwrap

import dagster as dg
import pytest

from magpie_dagster.cli.runner import PartitionOutcome, run_partition
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.sensors import add_crash_advice
from magpie_dagster.defs.step_crashes import StepCrash
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: crashy, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2,
     instructions_per_batch: 4}
  - {key: steady, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2,
     instructions_per_batch: 4}
retries: {max_retries: 1, delay_s: 0.5}
"""


def magpie_job_with_a_crashing_engine() -> dg.JobDefinition:
    """Rebuilt in every step's process from the environment the test sets."""
    definitions = build_definitions(
        os.environ["MAGPIE_CATALOGUE"],
        os.environ["MAGPIE_WAREHOUSE"],
        engines=FakeEngineResource(crashing_models=["crashy"]),
        embedder=FakeEmbedderResource(),
    )
    return definitions.resolve_job_def("magpie_job")


@pytest.fixture(scope="module")
def night_with_a_crash(tmp_path_factory):
    folder = tmp_path_factory.mktemp("night_with_a_crash")
    catalogue = folder / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(CATALOGUE))
    warehouse = folder / "warehouse.duckdb"
    with (
        pytest.MonkeyPatch.context() as environment,
        dg.instance_for_test(temp_dir=str(folder)) as instance,
    ):
        environment.setenv("MAGPIE_CATALOGUE", str(catalogue))
        environment.setenv("MAGPIE_WAREHOUSE", str(warehouse))
        job = dg.reconstructable(magpie_job_with_a_crashing_engine)
        outcomes = {
            model: run_partition(job, instance, model_date_key(model, NIGHT), f"{model}|{NIGHT}")
            for model in ("crashy", "steady")
        }
        yield instance, outcomes, Warehouse(warehouse)


def test_the_crashed_step_is_named_with_its_signal_and_advice(night_with_a_crash):
    _, outcomes, _ = night_with_a_crash
    crashed = outcomes["crashy"]
    assert not crashed.success
    assert crashed.crashes == (StepCrash("raw_instructions", 11, "SIGSEGV"),)
    assert list(crashed.failed_steps) == ["raw_instructions"]
    [line] = crashed.failure_lines(uses_llama_cpp=True)
    assert line.startswith("partition crashy|2026-11-20: step raw_instructions died by signal 11 (SIGSEGV)")
    assert "cpu_extra_buffers: false" in line and "-DGGML_NATIVE=OFF" in line


def test_the_other_model_of_the_night_still_runs(night_with_a_crash):
    _, outcomes, warehouse = night_with_a_crash
    assert outcomes["steady"].success and outcomes["steady"].failure_lines(uses_llama_cpp=True) == []
    with warehouse.connect(read_only=True) as connection:
        counts = dict(connection.execute("SELECT model, count(*) FROM instructions GROUP BY model").fetchall())
        answered = connection.execute("SELECT count(*) FROM responses WHERE model = 'steady'").fetchone()[0]
    assert counts == {"steady": 4}
    assert answered > 0


def test_the_ui_gets_the_same_advice_once(night_with_a_crash):
    instance, outcomes, _ = night_with_a_crash
    run = instance.get_run_by_id(outcomes["crashy"].run_id)
    [line] = add_crash_advice(instance, run, uses_llama_cpp=True)
    assert line == outcomes["crashy"].failure_lines(uses_llama_cpp=True)[0]
    logged = [entry.message for entry in instance.all_logs(run.run_id)]
    assert line in logged
    assert add_crash_advice(instance, run, uses_llama_cpp=True) == [], "advice is written once per run"


def test_a_step_that_failed_without_crashing_is_named_with_its_cause():
    outcome = PartitionOutcome(
        partition="alpha|2026-11-20",
        run_id="r-1",
        success=False,
        failed_steps={"responses": "Partition alpha|2026-11-20 (responses): the server did not answer."},
        crashes=(),
    )
    assert outcome.failure_lines(uses_llama_cpp=True) == [
        "partition alpha|2026-11-20: step responses failed: Partition alpha|2026-11-20 (responses): "
        "the server did not answer. (run r-1)"
    ]
    assert PartitionOutcome("alpha|2026-11-20", "r-2", False, {}, ()).failure_lines(uses_llama_cpp=False) == [
        "partition alpha|2026-11-20: the run failed before any step; see run r-2"
    ]
