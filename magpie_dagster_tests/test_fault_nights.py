"""A finished night re-run (`--fresh`) under every server fault, through the real CLI, a real DuckDB file and a
real Dagster instance: the run fails in bounded time with a cause per line and no traceback, every table and
export is unchanged, and the API key appears nowhere (output, DAGSTER_HOME, tables)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.servers import (
    FAULTS,
    SLOW_FAULTS,
    fault_server,
    free_loopback_port,
    recording_completions_server,
)
from magpie_dagster_tests.snapshots import night_snapshot, table_text

NIGHT = dt.date(2026, 11, 20)
CANARY = "sk-canary-5d1e0b77aa"
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {{key: served, engine: openai, model: m, template: qwen2.5, base_url: "{base_url}", api_key_env: MAGPIE_TEST_KEY,
     timeout_s: 3, max_retries: 1, instructions_per_batch: 4, batch_size: 2}}
judging:
  judge: {{engine: openai, model: m, base_url: "{base_url}", api_key_env: MAGPIE_TEST_KEY, tags: []}}
retries: {{max_retries: 1, delay_s: 1}}
"""
MODES = (*FAULTS, *SLOW_FAULTS, "refused")


class Night:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.catalogue = root / "catalogue.yaml"
        self.warehouse = root / "data" / "magpie.duckdb"
        self.home = root / "dagster_home"

    def run(self, base_url: str, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
        self.catalogue.write_text(CATALOGUE.format(base_url=base_url))
        environment = {
            **os.environ,
            "MAGPIE_CATALOGUE": str(self.catalogue),
            "MAGPIE_WAREHOUSE": str(self.warehouse),
            "DAGSTER_HOME": str(self.home),
            "MAGPIE_TEST_KEY": CANARY,
        }
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "magpie_dagster", "run", "--date", NIGHT.isoformat(), *extra],
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return completed, time.monotonic() - started


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Night:
    finished = Night(tmp_path_factory.mktemp("fault-nights"))
    with recording_completions_server() as (base_url, _):
        completed, _ = finished.run(base_url)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "curated subset" in completed.stdout
    return finished


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_finished_night_survives_a_rerun_under_a_server_fault(night, mode):
    before = night_snapshot(Warehouse(night.warehouse))
    calls_before = _failed_calls(night)
    assert before["tables"]["instructions"] and before["exports"]["2026-11-20/sharegpt.jsonl"]
    if mode == "refused":
        completed, took = night.run(f"http://127.0.0.1:{free_loopback_port()}/v1", "--fresh")
    else:
        with fault_server(mode) as (base_url, requests):
            completed, took = night.run(base_url, "--fresh")
        assert requests, "the fresh run reached the server"
    assert completed.returncode == 1, completed.stderr[-3000:]
    assert took < 180
    failed = [line for line in completed.stderr.splitlines() if line.startswith("FAILED ")]
    assert failed[0].startswith("FAILED partition served|2026-11-20: step raw_instructions failed: ")
    assert "Model entry 'served'" in failed[0] or "Cannot reach" in failed[0]  # the cause, after the partition
    assert any("Night 2026-11-20 was not built" in line for line in failed)
    assert "Traceback" not in completed.stdout
    assert night_snapshot(Warehouse(night.warehouse)) == before
    if mode != "refused":  # the calls that reached the faulty server are in the cost ledger, failed
        assert _failed_calls(night) > calls_before
    assert CANARY not in completed.stdout + completed.stderr
    assert CANARY not in table_text(Warehouse(night.warehouse))
    leaked = [path for path in night.home.rglob("*") if path.is_file() and CANARY.encode() in path.read_bytes()]
    assert leaked == []


def _failed_calls(night: Night) -> int:
    with Warehouse(night.warehouse).connect(read_only=True) as connection:
        return connection.execute("SELECT count(*) FROM engine_calls WHERE error IS NOT NULL").fetchone()[0]
