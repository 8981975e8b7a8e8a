"""Bad nights lose nothing: a failed, interrupted or doubled run never deletes, duplicates or half-writes data,
and a night is built only from finished partitions (real Dagster materialisations, a real DuckDB file, the fake
engine so every failure can be placed exactly)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from magpie_dagster.cli.runner import failure_cause
from magpie_dagster.defs.assets.generation import fresh_run_config
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster_tests.backends import FILE_ONLY, Backend, file_backend
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource
from magpie_dagster_tests.snapshots import night_snapshot

NIGHT = dt.date(2026, 11, 20)
# The template probe is off: it holds a new partition's first 16 samples until its verdict, and these tests count
# exactly which batches a fault leaves committed (test_template_probe.py tests the probe).
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, probe: {enabled: false},
     instructions_per_batch: 12, batch_size: 4}
  - {key: beta, engine: llama_cpp, model: b.gguf, template: qwen2.5, probe: {enabled: false},
     instructions_per_batch: 6, batch_size: 4}
judging:
  judge: {engine: llama_cpp, model: judge.gguf}
curation:
  recipe:
    name: test-recipe
    rules:
      - {rule: first_of_group}
      - {rule: shuffle, seed: 42}
retries: {max_retries: 0}
"""


class Project:
    def __init__(self, root: Path, backend: Backend | None = None, catalogue: str = CATALOGUE) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.catalogue = root / "catalogue.yaml"
        self.catalogue.write_text(textwrap.dedent(catalogue))
        self.backend = backend or file_backend(root)
        self.warehouse = self.backend.warehouse()
        self.instance = dg.DagsterInstance.ephemeral()

    def defs(self, engines: FakeEngineResource | None = None) -> dg.Definitions:
        return self.backend.definitions(self.catalogue, engines or FakeEngineResource(), FakeEmbedderResource())

    def run_model(self, model: str, engines=None, fresh=False, assets=None) -> dg.ExecuteInProcessResult:
        job = self.defs(engines).resolve_job_def("magpie_job")
        if assets:
            job = job.get_subset(asset_selection={dg.AssetKey(name) for name in assets})
        config = fresh_run_config() if fresh else None
        if config and assets:
            config = {"ops": {name: op for name, op in config["ops"].items() if name in assets}}
        return job.execute_in_process(
            partition_key=model_date_key(model, NIGHT), instance=self.instance, run_config=config, raise_on_error=False
        )

    def run_night(self, engines=None) -> dg.ExecuteInProcessResult:
        return (
            self.defs(engines)
            .resolve_job_def("nightly_curation_job")
            .execute_in_process(partition_key=NIGHT.isoformat(), instance=self.instance, raise_on_error=False)
        )

    def query(self, sql: str) -> list[tuple]:
        with self.warehouse.connect(read_only=True) as connection:
            return connection.execute(sql).fetchall()

    def snapshot(self) -> dict[str, object]:
        return night_snapshot(self.warehouse)


def failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [failure_cause(event.step_failure_data) for event in result.all_events if event.is_step_failure]


def finish(project: Project) -> Project:
    """A finished night: both models' partitions and the nightly stages."""
    for model in ("alpha", "beta"):
        assert project.run_model(model).success
    assert project.run_night().success
    return project


@pytest.fixture
def finished(tmp_path, backend) -> Project:
    return finish(Project(tmp_path, backend))


@FILE_ONLY
def test_a_rerun_whose_server_is_down_changes_nothing(finished):
    before = finished.snapshot()
    assert before["tables"]["curated_rows"] and before["exports"]["2026-11-20/sharegpt.jsonl"]
    down = FakeEngineResource(unreachable=True)
    result = finished.run_model("alpha", down, fresh=True)
    assert not result.success
    assert failures(result)[0].startswith("Partition alpha|2026-11-20 (raw_instructions): Cannot reach")
    night = finished.run_night()
    assert not night.success
    [blocked] = failures(night)
    assert "Night 2026-11-20 was not built; it keeps its previous curated subset" in blocked
    assert "alpha|2026-11-20 raw_instructions: failed in run" in blocked and "Cannot reach" in blocked
    assert finished.snapshot() == before


def test_a_fault_mid_partition_keeps_every_row_and_replaces_only_stored_batches(finished):
    before = dict(finished.query("SELECT conversation_id, fingerprint FROM instructions WHERE model = 'alpha'"))
    faulty = FakeEngineResource(script="repetitive", fail_after_requests=4)  # the second batch of 4 fails
    result = finished.run_model("alpha", faulty, fresh=True)
    assert not result.success and "went away after 4 requests" in failures(result)[0]
    after = dict(finished.query("SELECT conversation_id, fingerprint FROM instructions WHERE model = 'alpha'"))
    assert after.keys() == before.keys(), "every sample still has exactly one row"
    assert finished.query("SELECT count(*), count(DISTINCT conversation_id) FROM instructions") == [(18, 18)]
    replaced = finished.query(
        "SELECT count(*) FROM instructions WHERE model = 'alpha' AND instruction IN "
        "('How do tides work?', 'Explain binary search.', 'What is sourdough?', 'Name three primes.')"
    )
    assert replaced == [(4,)], "the one batch that finished replaced its 4 rows; the rest are the old rows"


def test_an_interrupted_partition_resumes_to_the_rows_of_an_uninterrupted_run(tmp_path, new_backend):
    uninterrupted = Project(tmp_path / "a", new_backend(tmp_path / "a"))
    assert uninterrupted.run_model("alpha").success
    expected = uninterrupted.query("SELECT conversation_id, instruction, fingerprint FROM instructions ORDER BY 1")

    resumed = Project(tmp_path / "b", new_backend(tmp_path / "b"))
    log = tmp_path / "requests.log"
    first = resumed.run_model("alpha", FakeEngineResource(fail_after_requests=8, request_log=str(log)))
    assert not first.success
    assert resumed.query("SELECT count(*) FROM instructions") == [(8,)], "two batches of 4 were committed"
    log.write_text("")
    second = resumed.run_model("alpha", FakeEngineResource(request_log=str(log)))
    assert second.success
    assert resumed.query("SELECT conversation_id, instruction, fingerprint FROM instructions ORDER BY 1") == expected
    instruction_calls = [line for line in log.read_text().splitlines() if " chat " not in line]  # not the judge's
    materialised = second.asset_materializations_for_node("raw_instructions")[0].metadata
    assert (materialised["reused"].value, materialised["generated"].value) == (8, 4)
    # 4 instructions, then the responses of every usable instruction (the first run answered none).
    usable = resumed.query("SELECT count(*) FROM instructions WHERE drop_reason IS NULL")[0][0]
    assert len(instruction_calls) == 4 + usable * 1


@FILE_ONLY
def test_a_changed_setting_replaces_exactly_the_rows_it_affects(finished):
    responses_before = dict(finished.query("SELECT conversation_id, fingerprint FROM responses WHERE model = 'alpha'"))
    finished.catalogue.write_text(
        finished.catalogue.read_text().replace(
            "instructions_per_batch: 12, batch_size: 4}",
            "instructions_per_batch: 14, batch_size: 4, response_sampling: {max_tokens: 77}}",
        )
    )
    result = finished.run_model("alpha", assets=["raw_instructions", "responses"])
    assert result.success
    instructions = result.asset_materializations_for_node("raw_instructions")[0].metadata
    responses = result.asset_materializations_for_node("responses")[0].metadata
    assert (instructions["reused"].value, instructions["generated"].value) == (12, 2)
    assert responses["reused"].value == 0 and responses["generated"].value == responses["rows"].value
    after = dict(finished.query("SELECT conversation_id, fingerprint FROM responses WHERE model = 'alpha'"))
    assert set(before_id for before_id in responses_before) <= set(after)
    assert all(after[i] != responses_before[i] for i in responses_before)
    assert finished.query("SELECT count(*) FROM responses WHERE model = 'beta'") != [(0,)]


@FILE_ONLY
def test_a_night_waits_for_a_partition_redone_after_its_later_stages(finished):
    before = finished.snapshot()
    assert finished.run_model("alpha", fresh=True, assets=["raw_instructions"]).success
    night = finished.run_night()
    assert not night.success
    [blocked] = failures(night)
    assert "alpha|2026-11-20 responses: finished before raw_instructions was redone" in blocked
    assert "alpha|2026-11-20 dedup_results: finished before raw_instructions was redone" in blocked
    assert "beta" not in blocked
    assert finished.snapshot()["exports"] == before["exports"]


@FILE_ONLY
def test_a_model_never_materialised_blocks_the_night(tmp_path, backend):
    project = Project(tmp_path, backend)
    assert project.run_model("alpha").success
    night = project.run_night()
    assert not night.success
    assert "beta|2026-11-20 raw_instructions: never materialised" in failures(night)[0]
    assert project.query("SELECT count(*) FROM curated_rows") == [(0,)]
    assert not (project.warehouse.exports_root / "2026-11-20").exists()


def test_a_model_removed_from_the_catalogue_is_left_out_of_the_night_and_pruned_on_request(finished, monkeypatch):
    finished.catalogue.write_text(finished.catalogue.read_text().replace("- {key: beta,", "- {key: gamma,"))
    assert finished.run_model("gamma").success
    assert finished.run_night().success
    assert finished.query("SELECT DISTINCT model FROM curated_rows ORDER BY 1") == [("alpha",), ("gamma",)]
    materialised = finished.instance.get_latest_materialization_event(dg.AssetKey("curated_subset"))
    assert materialised.asset_materialization.metadata["models_left_out"].value == {"beta": 6}

    from magpie_dagster.cli import main as cli

    monkeypatch.setenv("MAGPIE_CATALOGUE", str(finished.catalogue))
    for variable, value in finished.backend.environment().items():
        monkeypatch.setenv(variable, value)
    assert cli.main(["prune", "--model", "alpha"]) == 2, "a key still in the catalogue is refused"
    assert cli.main(["prune", "--model", "beta"]) == 0
    assert finished.query("SELECT count(*) FROM instructions WHERE model = 'beta'") == [(0,)]
    assert finished.query("SELECT count(*) FROM instructions WHERE model = 'alpha'") == [(12,)]
    copy = finished.warehouse.read_copy_path
    if copy is not None:  # the file backend: the analysts' copy loses the pruned rows too
        with duckdb.connect(str(copy), read_only=True) as connection:
            assert connection.execute("SELECT model, count(*) FROM instructions GROUP BY 1 ORDER BY 1").fetchall() == [
                ("alpha", 12), ("gamma", 6)
            ]


FILL_THE_DISK_MID_RUN = """
import datetime as dt, os, resource, signal, sys
import dagster as dg
from magpie_dagster.defs.assets.generation import fresh_run_config
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.cli.runner import partition_outcome
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource

catalogue, warehouse = sys.argv[1:3]
key = model_date_key("alpha", dt.date(2026, 11, 20))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
limit = os.path.getsize(warehouse) + 256 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # the instance is in memory: only the warehouse is limited
defs = build_definitions(catalogue, warehouse, FakeEngineResource(script="huge"), FakeEmbedderResource())
job = defs.resolve_job_def("magpie_job").get_subset(asset_selection={dg.AssetKey("raw_instructions")})
config = {"ops": {"raw_instructions": fresh_run_config()["ops"]["raw_instructions"]}}
result = job.execute_in_process(partition_key=key, run_config=config, raise_on_error=False)
outcome = partition_outcome(result, "alpha|2026-11-20")
print(outcome.exit_code)
print(list(outcome.failed_steps.values())[0])
"""


def test_a_disk_that_fills_up_mid_run_keeps_the_partition_and_exits_2(tmp_path):
    finished = finish(Project(tmp_path))  # the DuckDB file: its size is what the limit bounds
    before = finished.snapshot()
    completed = subprocess.run(
        [sys.executable, "-c", FILL_THE_DISK_MID_RUN, str(finished.catalogue), str(finished.warehouse.path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    code, cause = completed.stdout.strip().splitlines()[-2:]
    assert code == "2"
    assert cause.startswith(
        f"Partition alpha|2026-11-20 (raw_instructions): Writing the warehouse {finished.warehouse.path}"
    )
    assert "If the disk is full, free space and run again" in cause
    after = finished.snapshot()  # the file is readable; batches stored before the disk filled are kept
    assert {k: v for k, v in after["tables"].items() if k != "instructions"} == {
        k: v for k, v in before["tables"].items() if k != "instructions"
    }
    assert after["exports"] == before["exports"]
    assert finished.query("SELECT count(*), count(DISTINCT conversation_id) FROM instructions") == [(18, 18)]
    replaced = finished.query("SELECT count(*) FROM instructions WHERE length(raw_instruction) = 500000")[0][0]
    assert replaced % 4 == 0 and 0 < replaced < 12, "whole batches, some before the disk filled, not all of them"
    unchanged = set(after["tables"]["instructions"]) & set(before["tables"]["instructions"])
    assert len(unchanged) == 18 - replaced
