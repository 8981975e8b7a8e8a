"""The resume drill: a process generating a real-model partition is killed with SIGKILL right after a committed
batch; after the last re-run the partition holds exactly the rows of an uninterrupted run (same ids, same texts on
the embedded engine), none twice, and rows committed before a kill were kept, not generated again."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from magpie_dagster.storage.warehouse import Warehouse

CATALOGUE = """
start_date: "2026-11-01"
models:
  - key: smol
    engine: llama_cpp
    model: packaged:smollm2-135m-instruct
    template: smollm2
    instructions_per_batch: 10
    batch_size: 2
    instruction_sampling: {max_tokens: 40}
    response_sampling: {max_tokens: 40}
retries: {max_retries: 0}
"""

GENERATE = """
import datetime as dt, json, sys
import dagster as dg
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key

defs = build_definitions(sys.argv[1], sys.argv[2])
job = defs.resolve_job_def("magpie_job").get_subset(
    asset_selection={dg.AssetKey("raw_instructions"), dg.AssetKey("responses")}
)
result = job.execute_in_process(partition_key=model_date_key("smol", dt.date(2026, 11, 20)))
print(json.dumps({
    event.asset_key.path[-1]: {k: event.materialization.metadata[k].value for k in ("generated", "reused")}
    for event in result.get_asset_materialization_events()
}))
"""

ROWS = {
    "instructions": "SELECT conversation_id, instruction, raw_instruction, drop_reason, fingerprint FROM instructions",
    "responses": "SELECT conversation_id, response, drop_reason, fingerprint FROM responses",
}


def start(catalogue: Path, warehouse: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(GENERATE), str(catalogue), str(warehouse)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored(warehouse: Path) -> dict[str, list[tuple]]:
    if not warehouse.exists():
        return {table: [] for table in ROWS}
    with Warehouse(warehouse).connect(read_only=True) as connection:
        return {table: sorted(connection.execute(sql).fetchall()) for table, sql in ROWS.items()}


def created_at(warehouse: Path) -> dict[str, object]:
    if not warehouse.exists():
        return {}
    with Warehouse(warehouse).connect(read_only=True) as connection:
        rows = connection.execute(
            "SELECT 'i' || conversation_id, created_at FROM instructions "
            "UNION ALL SELECT 'r' || conversation_id, created_at FROM responses"
        ).fetchall()
    return dict(rows)


COMMITTED = re.compile(r"\] (instructions|responses): \d+/\d+ done")  # logged after a batch is committed


def _kill_after_commits(process: subprocess.Popen, commits: int) -> None:
    """SIGKILL right after the run's `commits`-th committed batch (read from its log), at once: mid-run, with
    batches behind it and decoding going on. A run with fewer batches left finishes."""
    seen = 0
    for line in process.stderr:
        seen += bool(COMMITTED.search(line))
        if seen == commits:
            process.send_signal(signal.SIGKILL)
            return


@pytest.mark.slow
def test_a_partition_killed_mid_run_resumes_to_the_uninterrupted_rows(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    reference = tmp_path / "reference.duckdb"
    uninterrupted = start(catalogue, reference)
    out, err = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, err[-3000:]
    expected = stored(reference)
    assert len(expected["instructions"]) == 10

    drilled = tmp_path / "drilled.duckdb"
    kills = 0
    for _ in range(5):
        process = start(catalogue, drilled)
        _kill_after_commits(process, 1)
        kills += process.wait(timeout=60) == -signal.SIGKILL
        process.communicate(timeout=60)
        rows = stored(drilled)
        for table in ROWS:  # what was committed is exactly what the uninterrupted run has for those ids
            assert set(rows[table]) <= set(expected[table]), table
    assert kills >= 3, "runs were killed mid-way, each after its first committed batch"

    kept_before = created_at(drilled)
    already = stored(drilled)
    assert already["instructions"], "the killed runs committed batches, so the final run has rows to reuse"
    final = start(catalogue, drilled)
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err[-3000:]
    assert stored(drilled) == expected
    with Warehouse(drilled).connect(read_only=True) as connection:
        assert connection.execute("SELECT count(*) = count(DISTINCT conversation_id) FROM instructions").fetchone() == (
            True,
        )
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts["raw_instructions"]["reused"] == len(already["instructions"])
    assert counts["raw_instructions"]["generated"] == 10 - len(already["instructions"])
    assert counts["responses"]["reused"] == len(already["responses"])
    after = created_at(drilled)
    assert all(after[key] == value for key, value in kept_before.items()), "committed rows were not rewritten"
