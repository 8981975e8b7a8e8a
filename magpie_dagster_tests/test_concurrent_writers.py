"""Writers in separate processes at the same moment, on both backends (the DuckDB file and a DuckLake on
PostgreSQL): one writer per partition (the other is refused, naming the run that holds it), four partitions
written at once lose nothing, and incremental dedup of partitions committed together equals the brute-force
oracle. The processes find the warehouse the way `magpie-dagster` does: MAGPIE_WAREHOUSE and friends."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from magpie_dagster.domain.stages import PER_MODEL_ASSETS
from magpie_dagster_tests.backends import Backend
from magpie_dagster_tests.test_dedup_incremental import (
    DEDUP_CATALOGUE,
    PARTITIONS,
    assert_matches_brute_force,
    brute_force,
    corpus,
    order_keys,
    write_instructions,
)

CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 12, batch_size: 4}
retries: {max_retries: 0}
"""

ONE_PARTITION = """
import sys
import dagster as dg
from magpie_dagster.defs.assets.generation import fresh_run_config
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.cli.runner import failure_cause
from magpie_dagster.settings import warehouse_location, warehouse_options
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource
import datetime as dt

catalogue, go = sys.argv[1], sys.argv[2]
engines = FakeEngineResource(script="slow")
defs = build_definitions(catalogue, warehouse_location(), engines, FakeEmbedderResource(), **warehouse_options())
job = defs.resolve_job_def("magpie_job").get_subset(asset_selection={dg.AssetKey("raw_instructions")})
config = {"ops": {"raw_instructions": fresh_run_config()["ops"]["raw_instructions"]}}
wait_for_go(go)
result = job.execute_in_process(
    partition_key=model_date_key("alpha", dt.date(2026, 11, 20)), run_config=config, raise_on_error=False
)
causes = [failure_cause(e.step_failure_data) for e in result.all_events if e.is_step_failure]
print("OK" if result.success else "FAILED " + causes[0])
"""


# Prepended to each writer's script: it says READY once imported and built, then waits for the go file.
BARRIER = """
import os, time


def wait_for_go(go):
    print("READY", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
"""


def start_together(script: str, argument_sets: list[list[str]], backend: Backend) -> list[str]:
    """Starts one process per argument set on `backend` and releases them together once every one of them has
    imported Dagster and built its definitions (a barrier, not a guessed delay: on a busy machine imports take
    longer than any fixed wait); returns the last line each printed."""
    with tempfile.TemporaryDirectory(prefix="magpie-go-") as folder:
        go = Path(folder) / "go"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", BARRIER + textwrap.dedent(script), *arguments, str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, **backend.environment()},
            )
            for arguments in argument_sets
        ]
        try:
            for process in processes:
                first_line = process.stdout.readline().strip()
                if first_line != "READY":  # it died before the barrier: say why
                    _, err = process.communicate(timeout=60)
                    pytest.fail(f"a writer never reached the barrier ({first_line!r}): {err[-3000:]}")
            go.touch()
            outputs = []
            for process in processes:
                out, err = process.communicate(timeout=300)
                assert process.returncode == 0, err[-3000:]
                outputs.append(out.strip().splitlines()[-1])
            return outputs
        finally:
            for process in processes:
                if process.poll() is None:  # a failed test leaves no writer waiting for its go file
                    process.kill()
                    process.wait()


@pytest.mark.slow
def test_two_runs_of_one_partition_at_once_one_wins_the_other_is_refused(tmp_path, backend):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    for _ in range(2):  # a race on an empty partition, then again on the partition the first race wrote
        outputs = start_together(ONE_PARTITION, [[str(catalogue)]] * 2, backend)
        assert sorted(line.split()[0] for line in outputs) == ["FAILED", "OK"], outputs
        [refused] = [line for line in outputs if line.startswith("FAILED")]
        assert "Partition alpha|2026-11-20 (raw_instructions) is being written by run " in refused
        assert "started 20" in refused and "nothing was written by this run" in refused
        with backend.warehouse().connect(read_only=True) as connection:
            assert connection.execute(
                "SELECT count(*), count(DISTINCT conversation_id) FROM instructions"
            ).fetchone() == (12, 12)
            running = connection.execute("SELECT count(*) FROM stage_leases WHERE status = 'running'").fetchone()
            assert running == (0,)


ONE_DEDUP = """
import json, sys
import datetime as dt
import dagster as dg
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.settings import warehouse_location, warehouse_options
from magpie_dagster_tests.test_dedup_incremental import PlantedEmbedderResource

catalogue, vectors, model, day, go = sys.argv[1:6]
planted = PlantedEmbedderResource(vectors=json.loads(open(vectors).read()))
defs = build_definitions(catalogue, warehouse_location(), embedder=planted, **warehouse_options())
job = defs.resolve_job_def("magpie_job")
wait_for_go(go)
result = job.execute_in_process(
    partition_key=model_date_key(model, dt.date.fromisoformat(day)), asset_selection=[dg.AssetKey("dedup_results")]
)
print("OK" if result.success else "FAILED")
"""


@pytest.mark.slow
def test_partitions_deduplicated_at_the_same_moment_equal_the_brute_force_oracle(tmp_path, backend):
    rows = corpus()
    keys = list(rows)
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(DEDUP_CATALOGUE)
    vectors = tmp_path / "vectors.json"
    vectors.write_text(json.dumps({i: v.tolist() for ids, vs in rows.values() for i, v in zip(ids, vs, strict=True)}))
    warehouse = backend.warehouse()
    warehouse.ensure_schema()
    for model, day in PARTITIONS:
        write_instructions(warehouse, model, day, rows[(model, day)][0])
    arguments = [[str(catalogue), str(vectors), model, day.isoformat()] for model, day in PARTITIONS]
    assert start_together(ONE_DEDUP, arguments, backend) == ["OK"] * len(PARTITIONS)
    with warehouse.connect(read_only=True) as connection:
        stored = connection.execute(
            "SELECT conversation_id, nearest_conversation_id, min_neighbor_distance, repeat_count, "
            "min_similar_conversation_id FROM dedup_results"
        ).fetchall()
    all_ids = [i for key in keys for i in rows[key][0]]
    expected = brute_force(all_ids, np.vstack([rows[key][1] for key in keys]), order_keys(rows))
    assert_matches_brute_force({row[0]: row[1:] for row in stored}, expected, tolerance=1e-5)


FOUR_MODELS = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 12, batch_size: 3}
  - {key: beta, engine: llama_cpp, model: b.gguf, template: qwen2.5, instructions_per_batch: 12, batch_size: 3}
  - {key: gamma, engine: llama_cpp, model: c.gguf, template: smollm2, instructions_per_batch: 12, batch_size: 3}
  - {key: delta, engine: llama_cpp, model: d.gguf, template: qwen2.5, instructions_per_batch: 12, batch_size: 3}
judging:
  judge: {engine: llama_cpp, model: judge.gguf}
retries: {max_retries: 0}
"""

WHOLE_PARTITION = """
import sys
import datetime as dt
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.cli.runner import failure_cause
from magpie_dagster.settings import warehouse_location, warehouse_options
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource

catalogue, model, days, go = sys.argv[1:5]
engines = FakeEngineResource(script="slow")
defs = build_definitions(catalogue, warehouse_location(), engines, FakeEmbedderResource(), **warehouse_options())
wait_for_go(go)
causes = []
for day in days.split(","):  # the four processes start together and run the same work: each night overlaps
    result = defs.resolve_job_def("magpie_job").execute_in_process(
        partition_key=model_date_key(model, dt.date.fromisoformat(day)), raise_on_error=False
    )
    causes += [failure_cause(e.step_failure_data) for e in result.all_events if e.is_step_failure]
print("FAILED " + " | ".join(causes) if causes else "OK")
"""


@pytest.mark.slow
def test_four_partitions_written_by_four_processes_at_once_twice_lose_nothing(tmp_path, backend):
    """Every stage of four partitions (instructions, responses, tags, dedup, decontamination) committed batch by
    batch from four processes at once, two nights each (the second night's writes meet a corpus the first left): no
    lock timeout or commit conflict, and every row of every stage present."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(FOUR_MODELS)
    models = ("alpha", "beta", "gamma", "delta")
    days = ",".join((dt.date(2026, 11, 20) + dt.timedelta(days=offset)).isoformat() for offset in range(2))
    outputs = start_together(WHOLE_PARTITION, [[str(catalogue), model, days] for model in models], backend)
    assert outputs == ["OK"] * 4, outputs
    with backend.warehouse().connect(read_only=True) as connection:
        per_partition = connection.execute(
            """
            WITH i AS (SELECT model, partition_date, count(*) AS n, count(*) FILTER (drop_reason IS NULL) AS usable
                       FROM instructions GROUP BY ALL),
                 r AS (SELECT model, partition_date, count(*) AS n FROM responses GROUP BY ALL),
                 j AS (SELECT model, partition_date, count(*) AS n FROM judgements GROUP BY ALL),
                 d AS (SELECT model, partition_date, count(*) AS n FROM dedup_results GROUP BY ALL)
            SELECT model, partition_date, i.n, i.usable, coalesce(r.n, 0), coalesce(j.n, 0), coalesce(d.n, 0)
            FROM i LEFT JOIN r USING (model, partition_date) LEFT JOIN j USING (model, partition_date)
                   LEFT JOIN d USING (model, partition_date)
            ORDER BY ALL
            """
        ).fetchall()
        tags = connection.execute("SELECT count(DISTINCT tag) FROM judgements").fetchone()[0]
        ledger = connection.execute(
            "SELECT status, count(*) FROM stage_leases "
            "WHERE stage NOT IN ('dedup_corpus', 'decontamination_corpus') GROUP BY ALL"
        ).fetchall()
        duplicated = {
            table: connection.execute(f"SELECT count(*) - count(DISTINCT ({key})) FROM {table}").fetchone()[0]
            for table, key in (
                ("instructions", "conversation_id"),
                ("responses", "conversation_id"),
                ("judgements", "conversation_id, tag"),
                ("dedup_nearest", "conversation_id"),
            )
        }
    assert len(per_partition) == 8, "4 models x 2 nights"
    assert tags >= 4
    for model, day, instructions, usable, responses, judgements, dedup in per_partition:
        assert instructions == 12 and usable > 0, (model, day)
        assert (responses, judgements, dedup) == (usable, usable * tags, usable), (model, day)
    assert ledger == [("finished", 8 * len(PER_MODEL_ASSETS))], "every per-model stage of each partition finished once"
    assert duplicated == dict.fromkeys(duplicated, 0)
