"""A real-model night (`magpie-dagster run`, the packaged SmolLM2) while analysts keep the read copy open: one holds
a connection from the first stage to the end, another opens a fresh one every 0.3 s. The night succeeds, the held
connection keeps its snapshot, and every copy ever published shows finished stages only, growing to the
warehouse's final rows. What is asserted holds for any sample the model produces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import duckdb
import pytest

from magpie_dagster_tests.held_reader import TABLES
from magpie_dagster_tests.nights import embedded_model_catalogue, real_model_night

pytestmark = pytest.mark.slow

NIGHT = real_model_night("2026-11-26")
CATALOGUE = embedded_model_catalogue(
    template="smollm2", instructions=4, batch_size=2, instruction_max_tokens=48, response_max_tokens=96
) + textwrap.dedent("""
    nightly: false
    judging:
      judge: {engine: llama_cpp, model: packaged:smollm2-135m-instruct, n_ctx: 2048, n_threads: 2, tags: [category],
              max_tokens: 64, max_failure_rate: 1.0}
""")


def test_readers_on_the_copy_all_night_block_nothing_and_see_only_finished_stages(tmp_path):
    (tmp_path / "catalogue.yaml").write_text(CATALOGUE)
    warehouse = tmp_path / "data" / "magpie.duckdb"
    copy, stop = tmp_path / "data" / "magpie.read.duckdb", tmp_path / "stop"
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-m", "magpie_dagster_tests.held_reader", mode, str(copy), str(stop),
             str(tmp_path / f"{mode}.json")]
        )
        for mode in ("hold", "poll")
    }
    try:
        night = subprocess.run(
            [sys.executable, "-m", "magpie_dagster", "run", "--date", NIGHT.isoformat()],
            env={
                **os.environ,
                "MAGPIE_CATALOGUE": str(tmp_path / "catalogue.yaml"),
                "MAGPIE_WAREHOUSE": str(warehouse),
                "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            },
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        stop.touch()
        codes = {mode: reader.wait(timeout=60) for mode, reader in readers.items()}
    assert night.returncode == 0, night.stdout[-2000:] + night.stderr[-2000:]
    assert codes == {"hold": 0, "poll": 0}
    assert f"bin/duckdb -readonly {copy}" in night.stdout

    held = json.loads((tmp_path / "hold.json").read_text())
    assert held["before"] == held["after"]  # one connection, one snapshot, all night

    snapshots = json.loads((tmp_path / "poll.json").read_text())
    assert len(snapshots) >= 3, snapshots  # refreshed as stages finished, not only at the end
    assert [s["running"] for s in snapshots] == [[]] * len(snapshots)  # never a stage half-written
    for earlier, later in zip(snapshots, snapshots[1:], strict=False):
        assert set(earlier["finished"]) <= set(later["finished"])
        assert all(later["counts"][table] >= count for table, count in earlier["counts"].items())
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        final = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
    assert snapshots[-1]["counts"] == final and final["instructions"] == 4
    assert f"curated_subset {NIGHT.isoformat()}" in snapshots[-1]["finished"]
