"""SIGTERM (what Kubernetes sends on preemption) ends `magpie-dagster run` within 30 s while its step waits on a
stalled server; the partition keeps its rows and its lease is released."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource
from magpie_dagster_tests.servers import fault_server
from magpie_dagster_tests.sessions import wait_until_session_ends

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {{key: served, engine: openai, model: m, template: qwen2.5, base_url: "{base_url}", timeout_s: 60,
     max_retries: 3, instructions_per_batch: 4}}
retries: {{max_retries: 2, delay_s: 5}}
"""


@pytest.mark.slow
def test_sigterm_ends_a_run_stuck_on_a_stalled_server_and_keeps_the_partition(tmp_path):
    with fault_server("stall_after_headers") as (base_url, requests):
        catalogue = tmp_path / "catalogue.yaml"
        catalogue.write_text(CATALOGUE.format(base_url=base_url))
        warehouse = tmp_path / "magpie.duckdb"
        seeded = build_definitions(catalogue, warehouse, FakeEngineResource(), FakeEmbedderResource())
        seeded.resolve_job_def("magpie_job").get_subset(
            asset_selection={dg.AssetKey("raw_instructions")}
        ).execute_in_process(partition_key=model_date_key("served", NIGHT), instance=dg.DagsterInstance.ephemeral())
        before = _rows(warehouse)
        assert len(before) == 4

        environment = {
            **os.environ,
            "MAGPIE_CATALOGUE": str(catalogue),
            "MAGPIE_WAREHOUSE": str(warehouse),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        }
        cli = subprocess.Popen(
            [sys.executable, "-m", "magpie_dagster", "run", "--date", NIGHT.isoformat()],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while not requests and time.monotonic() < deadline:
            time.sleep(0.2)
        assert requests, "the run reached the stalled server"
        terminated = time.monotonic()
        cli.send_signal(signal.SIGTERM)
        try:
            out, err = cli.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cli.pid, signal.SIGKILL)
            pytest.fail("the run was still going 30 s after SIGTERM")
        took = time.monotonic() - terminated
    assert cli.returncode != 0
    assert "Traceback" not in err, err[-2000:]
    assert "terminated" in err.lower()
    assert _rows(warehouse) == before
    assert took < 30
    with Warehouse(warehouse).connect(read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM stage_leases WHERE status = 'running'").fetchone() == (0,)
    # no step process is left (it would hold the lease and keep calling the server); the forkserver ends by itself
    wait_until_session_ends(cli.pid, timeout_s=20)


def _rows(warehouse: Path) -> list[tuple]:
    with Warehouse(warehouse).connect(read_only=True) as connection:
        return connection.execute(
            "SELECT conversation_id, instruction, fingerprint FROM instructions ORDER BY 1"
        ).fetchall()
