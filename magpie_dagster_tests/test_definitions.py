"""The code location loads, and its partitions and nightly schedule follow the catalogue."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME  # what the UI's Materialise runs
from dagster._core.definitions.reconstruct import ReconstructableRepository

from magpie_dagster.definitions import defs as lazy_definitions
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.jobs import STEP_PER_PROCESS, STEP_PROCESS_PRELOAD
from magpie_dagster.defs.partitions import DATE_DIMENSION, MODEL_DIMENSION, model_date_key
from magpie_dagster.defs.schedules import nightly_run_requests
from magpie_dagster.defs.sensors import NIGHT_AUTOMATION
from magpie_dagster.storage.warehouse import Warehouse

CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2, instructions_per_batch: 4}
"""


def test_the_shipped_code_location_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("MAGPIE_WAREHOUSE", str(tmp_path / "w.duckdb"))
    definitions = lazy_definitions()
    repository = definitions.get_repository_def()
    assert {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()} == {
        "raw_instructions", "responses", "instruction_tags", "dedup_results", "benchmark_contamination",
        "curated_subset", "preference_pairs", "night_scorecard", "dataset_export", "night_rounds",
    }
    assert definitions.resolve_job_def("magpie_job").partitions_def is not None
    nightly = definitions.resolve_job_def("nightly_curation_job")
    assert isinstance(nightly.partitions_def, dg.DailyPartitionsDefinition)
    checks = {key.name for key in repository.asset_graph.asset_check_keys}
    assert checks == {
        "judge_parse_failure_rate", "labels_in_their_sets", "labels_not_degenerate", "scorecard_within_bands",
        "second_judge_agrees",
    }  # fmt: skip
    assert definitions.resolve_schedule_def("nightly_magpie").cron_schedule == "0 2 * * *"
    crash_sensor = definitions.resolve_sensor_def("native_crash_advice")
    assert crash_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_nightly_refresh_runs_by_default_and_the_catalogue_switches_it_off(tmp_path):
    """`dagster dev` on the project builds tonight with no clicks: the schedule and the automation that curates
    the night start running; `nightly: false` ships both stopped."""
    catalogue = tmp_path / "catalogue.yaml"
    statuses = {}
    for switch in ("", "nightly: false\n"):
        catalogue.write_text(CATALOGUE + switch)
        definitions = build_definitions(catalogue, tmp_path / "w.duckdb")
        automation = definitions.resolve_sensor_def(NIGHT_AUTOMATION)
        statuses[switch or "default"] = (
            definitions.resolve_schedule_def("nightly_magpie").default_status,
            automation.default_status,
        )
    assert statuses == {
        "default": (dg.DefaultScheduleStatus.RUNNING, dg.DefaultSensorStatus.RUNNING),
        "nightly: false\n": (dg.DefaultScheduleStatus.STOPPED, dg.DefaultSensorStatus.STOPPED),
    }
    repository = build_definitions(catalogue, tmp_path / "w.duckdb").get_repository_def()
    targeted = automation.asset_selection.resolve(repository.asset_graph)
    assert {key.to_user_string() for key in targeted} >= {"curated_subset", "preference_pairs", "dataset_export"}


def test_every_step_of_both_jobs_gets_its_own_process(tmp_path, monkeypatch):
    """A native crash then ends one step, not the run (see test_step_crash.py)."""
    monkeypatch.setenv("MAGPIE_WAREHOUSE", str(tmp_path / "w.duckdb"))
    definitions = lazy_definitions()
    for name in ("magpie_job", "nightly_curation_job"):
        executor = definitions.resolve_job_def(name).executor_def
        assert executor.name == "step_per_process"
        assert executor.executor_creation_fn is dg.multiprocess_executor.executor_creation_fn


def test_step_processes_fork_with_the_project_loaded_and_no_engine_library():
    """The forkserver imports these once a run, so a step's process starts in under a second instead of ~3 s of
    imports. A renamed module would be skipped silently (Dagster ignores an ImportError there), and an engine library
    loaded before a fork would hand every step its threads and accelerator state: both fail here."""
    executor_config = STEP_PER_PROCESS.config_schema.resolve_config({}).value["config"]  # what `.configured` fixed
    assert executor_config["start_method"]["forkserver"]["preload_modules"] == STEP_PROCESS_PRELOAD
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys; [__import__(m) for m in {STEP_PROCESS_PRELOAD!r}]; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {"magpie_dagster.defs.assets.generation", "duckdb", "polars", "sqlalchemy"} <= set(loaded)
    assert not {"llama_cpp", "torch", "vllm", "sentence_transformers", "lingua"} & set(loaded)


def test_adding_a_model_adds_its_partitions(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    entry = (
        "  - {{key: {key}, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2}}\n"
    )
    catalogue.write_text('start_date: "2026-11-01"\nmodels:\n' + entry.format(key="one"))
    first = build_definitions(catalogue, tmp_path / "w.duckdb").resolve_job_def("magpie_job").partitions_def
    catalogue.write_text(catalogue.read_text() + entry.format(key="two"))
    second = build_definitions(catalogue, tmp_path / "w.duckdb").resolve_job_def("magpie_job").partitions_def
    models = {
        "first": first.get_partitions_def_for_dimension(MODEL_DIMENSION).get_partition_keys(),
        "second": second.get_partitions_def_for_dimension(MODEL_DIMENSION).get_partition_keys(),
    }
    assert models == {"first": ["one"], "second": ["one", "two"]}
    dates = second.get_partitions_def_for_dimension(DATE_DIMENSION)
    today = dt.date.today().isoformat()
    assert dates.get_partition_keys()[0] == "2026-11-01"
    assert today in dates.get_partition_keys()


def test_nightly_schedule_requests_tonight_for_every_model(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(
        textwrap.dedent("""
        start_date: "2026-11-01"
        models:
          - {key: one, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2}
          - {key: two, engine: openai, base_url: "http://127.0.0.1:8000/v1", model: m, template: qwen2.5}
    """)
    )
    definitions = build_definitions(catalogue, tmp_path / "w.duckdb")
    schedule = definitions.resolve_schedule_def("nightly_magpie")
    night = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.timezone.utc)
    with dg.build_schedule_context(
        scheduled_execution_time=night, repository_def=definitions.get_repository_def()
    ) as context:
        requests = schedule.evaluate_tick(context).run_requests
    keys = sorted(
        (
            request.partition_key.keys_by_dimension[MODEL_DIMENSION],
            request.partition_key.keys_by_dimension[DATE_DIMENSION],
        )
        for request in requests
    )
    assert keys == [("one", "2026-11-21"), ("two", "2026-11-21")]
    assert len(nightly_run_requests(("a", "b", "c"), dt.date(2026, 11, 22))) == 3


def test_a_materialisation_from_the_asset_graph_loads_each_model_once(tmp_path, monkeypatch):
    """Instructions and responses share one process and one engine (a process per step would load it twice)."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    open_log = tmp_path / "opens.log"
    monkeypatch.setenv("MAGPIE_CATALOGUE", str(catalogue))
    monkeypatch.setenv("MAGPIE_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("MAGPIE_OPEN_LOG", str(open_log))
    partitions = build_definitions(catalogue, tmp_path / "w.duckdb").resolve_job_def("magpie_job").partitions_def
    tags = partitions.get_tags_for_partition_key(model_date_key("alpha", dt.date(2026, 11, 20)))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance, dg.execute_job(
        ReconstructableRepository.for_module(
            "magpie_dagster_tests.daemon_location", "defs", working_directory=str(Path(__file__).parent.parent)
        ).get_reconstructable_job(IMPLICIT_ASSET_JOB_NAME),
        instance=instance,
        asset_selection=[dg.AssetKey("raw_instructions"), dg.AssetKey("responses")],
        tags=tags,
    ) as result:
        assert result.success
        steps = {event.step_key for event in result.all_events if event.is_step_success}
    assert steps == {"raw_instructions", "responses"}
    opens = open_log.read_text().splitlines()
    assert len(opens) == 1 and opens[0].startswith("alpha "), opens


def test_a_catalogue_with_in_process_vllm_keeps_a_process_per_step_in_the_asset_graph(tmp_path):
    """Two vLLM models in one process would not both fit on the GPU; only a process's exit frees it reliably."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    assert build_definitions(catalogue, tmp_path / "w.duckdb").executor is dg.in_process_executor
    catalogue.write_text(CATALOGUE + "  - {key: big, engine: vllm, model: org/big, template: llama-3}\n")
    executor = build_definitions(catalogue, tmp_path / "w.duckdb").executor
    assert executor.name == "step_per_process"


def test_every_table_asset_shows_its_table_and_columns_before_its_first_run(tmp_path, monkeypatch):
    """The UI's asset page names the warehouse table and lists its columns with no materialisation yet: the
    columns are those of a real warehouse file's table."""
    monkeypatch.setenv("MAGPIE_WAREHOUSE", str(tmp_path / "w.duckdb"))
    graph = lazy_definitions().get_repository_def().asset_graph
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.ensure_schema()
    shown = {}
    with warehouse.connect(read_only=True) as connection:
        for key in graph.get_all_asset_keys():
            metadata = graph.get(key).metadata
            if "dagster/table_name" not in metadata:
                continue
            table = metadata["dagster/table_name"]
            columns = [(column.name, column.type) for column in metadata["dagster/column_schema"].columns]
            real = connection.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
            assert columns == [tuple(row) for row in real]
            shown[key.to_user_string()] = table
    assert shown == {
        "raw_instructions": "instructions", "responses": "responses", "instruction_tags": "instruction_tags",
        "dedup_results": "dedup_results", "benchmark_contamination": "contamination",
        "curated_subset": "curated_rows", "preference_pairs": "preference_pairs",
        "night_rounds": "night_rounds", "night_scorecard": "night_scorecard",
    }
