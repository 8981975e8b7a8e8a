"""Writers in separate processes at the same moment: one writer per partition (the other is refused, naming
the run that holds it), and incremental dedup of partitions committed together equals the brute-force oracle."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np

from magpie_dagster.storage.warehouse import Warehouse
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
import sys, time
import dagster as dg
from magpie_dagster.defs.assets.generation import fresh_run_config
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.runner import failure_cause
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource
import datetime as dt

catalogue, warehouse, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
defs = build_definitions(catalogue, warehouse, FakeEngineResource(script="slow"), FakeEmbedderResource())
job = defs.resolve_job_def("magpie_job").get_subset(asset_selection={dg.AssetKey("raw_instructions")})
config = {"ops": {"raw_instructions": fresh_run_config()["ops"]["raw_instructions"]}}
time.sleep(max(0.0, start_at - time.time()))
result = job.execute_in_process(
    partition_key=model_date_key("alpha", dt.date(2026, 11, 20)), run_config=config, raise_on_error=False
)
causes = [failure_cause(e.step_failure_data) for e in result.all_events if e.is_step_failure]
print("OK" if result.success else "FAILED " + causes[0])
"""


def start_together(script: str, argument_sets: list[list[str]], delay_s: float = 8.0) -> list[str]:
    """Starts one process per argument set, all released at the same wall-clock moment; returns their outputs."""
    start_at = str(time.time() + delay_s)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), *arguments, start_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for arguments in argument_sets
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        outputs.append(out.strip().splitlines()[-1])
    return outputs


def test_two_runs_of_one_partition_at_once_one_wins_the_other_is_refused(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    warehouse = tmp_path / "magpie.duckdb"
    for _ in range(5):
        outputs = start_together(ONE_PARTITION, [[str(catalogue), str(warehouse)]] * 2)
        assert sorted(line.split()[0] for line in outputs) == ["FAILED", "OK"], outputs
        [refused] = [line for line in outputs if line.startswith("FAILED")]
        assert "Partition alpha|2026-11-20 (raw_instructions) is being written by run " in refused
        assert "started 20" in refused and "nothing was written by this run" in refused
        with Warehouse(warehouse).connect(read_only=True) as connection:
            assert connection.execute(
                "SELECT count(*), count(DISTINCT conversation_id) FROM instructions"
            ).fetchone() == (12, 12)


ONE_DEDUP = """
import json, sys, time
import datetime as dt
import dagster as dg
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster_tests.test_dedup_incremental import PlantedEmbedderResource

catalogue, warehouse, vectors, model, day, start_at = sys.argv[1:6] + [float(sys.argv[6])]
planted = PlantedEmbedderResource(vectors=json.loads(open(vectors).read()))
job = build_definitions(catalogue, warehouse, embedder=planted).resolve_job_def("magpie_job")
time.sleep(max(0.0, start_at - time.time()))
result = job.execute_in_process(
    partition_key=model_date_key(model, dt.date.fromisoformat(day)), asset_selection=[dg.AssetKey("dedup_results")]
)
print("OK" if result.success else "FAILED")
"""


def test_partitions_deduplicated_at_the_same_moment_equal_the_brute_force_oracle(tmp_path):
    rows = corpus()
    keys = list(rows)
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(DEDUP_CATALOGUE)
    vectors = tmp_path / "vectors.json"
    vectors.write_text(json.dumps({i: v.tolist() for ids, vs in rows.values() for i, v in zip(ids, vs, strict=True)}))
    for round_number in range(2):
        warehouse = Warehouse(tmp_path / f"warehouse-{round_number}.duckdb")
        warehouse.ensure_schema()
        for model, day in PARTITIONS:
            write_instructions(warehouse, model, day, rows[(model, day)][0])
        arguments = [
            [str(catalogue), str(warehouse.path), str(vectors), model, day.isoformat()] for model, day in PARTITIONS
        ]
        assert start_together(ONE_DEDUP, arguments) == ["OK"] * len(PARTITIONS)
        with warehouse.connect(read_only=True) as connection:
            stored = connection.execute(
                "SELECT conversation_id, nearest_conversation_id, min_neighbor_distance, repeat_count, "
                "min_similar_conversation_id FROM dedup_results"
            ).fetchall()
        all_ids = [i for key in keys for i in rows[key][0]]
        expected = brute_force(all_ids, np.vstack([rows[key][1] for key in keys]), order_keys(rows))
        assert_matches_brute_force({row[0]: row[1:] for row in stored}, expected, tolerance=1e-5)
