"""The README's main job with generator and judge on the REAL in-process vLLM (its CPU build), through Dagster.

vLLM runs its engine core and worker in child processes; a step that never shut them down never exited, so
every vLLM night hung after its first step. Here a night is terminated while vLLM loads (SIGTERM, as Kubernetes
sends it), then run to the end: both times no process of the run is left, and the finished night has every
stage's rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.sessions import session_processes

# vLLM loads in ~1 min per process here; the suite's 600 s limit is for one model load or less.
pytestmark = [pytest.mark.slow, pytest.mark.vllm, pytest.mark.timeout(1800)]

NIGHT = dt.date(2026, 11, 24)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - key: smollm2_vllm
    engine: vllm
    model: packaged:smollm2-135m-instruct
    template: smollm2
    max_model_len: 2048
    instructions_per_batch: 6
    batch_size: 6
    instruction_sampling: {temperature: 1.0, top_p: 1.0, max_tokens: 64}
    response_sampling: {temperature: 0.7, top_p: 0.9, repetition_penalty: 1.1, max_tokens: 96}
    probe: {enabled: false}
judging:
  judge: {engine: vllm, model: packaged:smollm2-135m-instruct, max_model_len: 2048, tags: [category],
          max_tokens: 96, max_failure_rate: 1.0}
curation:
  recipe: magpie-pro-300k-filtered
"""
LOAD_TIMEOUT_S = 300
TERMINATE_TIMEOUT_S = 90
NIGHT_TIMEOUT_S = 1200
# Python's forkserver outlives the run by a moment (it exits when its parent's socket closes); vLLM's processes
# are gone before the run exits.
EXIT_GRACE_S = 20


def test_a_vllm_night_leaves_no_process_when_terminated_and_runs_to_the_end(
    tmp_path, vllm_models_dir, vllm_environment
):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(CATALOGUE))
    warehouse = tmp_path / "magpie.duckdb"
    environment = {
        **os.environ,
        **vllm_environment,
        "MAGPIE_CATALOGUE": str(catalogue),
        "MAGPIE_WAREHOUSE": str(warehouse),
        "MAGPIE_MODELS": str(vllm_models_dir),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    command = [sys.executable, "-m", "magpie_dagster", "run", "--date", NIGHT.isoformat()]

    with _run_session(command, environment, tmp_path / "terminated.log") as (cli, output):
        _wait_for(lambda: _vllm_processes(cli.pid), LOAD_TIMEOUT_S, "vLLM's engine core to start")
        cli.send_signal(signal.SIGTERM)
        _wait_for(lambda: cli.poll() is not None, TERMINATE_TIMEOUT_S, "the run to end after SIGTERM")
        assert _vllm_processes(cli.pid) == [], "vLLM's engine core or worker outlived the terminated run"
        assert cli.returncode != 0, output()
        assert "terminated" in output().lower(), output()
        _wait_for(lambda: not session_processes(cli.pid), EXIT_GRACE_S, "the terminated run's processes to end")

    with _run_session(command, environment, tmp_path / "night.log") as (night, output):
        _wait_for(lambda: night.poll() is not None, NIGHT_TIMEOUT_S, "the night to end")
        assert _vllm_processes(night.pid) == [], "vLLM's engine core or worker outlived the night"
        assert night.returncode == 0, output()
        _wait_for(lambda: not session_processes(night.pid), EXIT_GRACE_S, "the finished night's processes to end")

    with Warehouse(warehouse).connect(read_only=True) as connection:
        instructions, usable = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE drop_reason IS NULL) FROM instructions"
        ).fetchone()
        answered = connection.execute("SELECT count(*) FROM responses WHERE drop_reason IS NULL").fetchone()[0]
        responses = connection.execute("SELECT count(*) FROM responses").fetchone()[0]
        judged = connection.execute("SELECT count(*) FROM judgements WHERE tag = 'category'").fetchone()[0]
        dedup = connection.execute("SELECT count(*) FROM dedup_results").fetchone()[0]
        curated = connection.execute("SELECT count(*) FROM curated_rows").fetchone()[0]
        engines = dict(connection.execute("SELECT stage, count(*) FROM engine_calls GROUP BY stage").fetchall())
    assert instructions == 6
    assert responses == usable and judged == usable and dedup == usable
    assert curated == answered
    assert engines.get("raw_instructions", 0) >= 1 and engines.get("instruction_tags", 0) >= (1 if usable else 0)


@contextlib.contextmanager
def _run_session(command: list[str], environment: dict[str, str], log_path: Path):
    """Starts the CLI in a session of its own; yields it and a reader of its output (the last 5,000 characters).
    Whatever of the session is still alive at the end is killed, so a failing test leaks nothing."""
    with open(log_path, "w+") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=log, start_new_session=True)
        try:
            yield process, lambda: log_path.read_text()[-5000:]
        finally:
            for leftover in session_processes(process.pid):
                with contextlib.suppress(psutil.Error):
                    leftover.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


def _vllm_processes(session: int) -> list[psutil.Process]:
    found = []
    for process in session_processes(session):
        try:
            if process.name().startswith("VLLM"):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s} s for {what}; still running: {_run_processes()}")
        time.sleep(0.5)


def _run_processes() -> str:
    left = []
    for process in psutil.process_iter():
        try:
            left.append(f"{process.pid} {process.name()} {' '.join(process.cmdline())[:120]}")
        except psutil.Error:
            continue
    return "; ".join(line for line in left if "VLLM" in line or "magpie" in line or "multiprocessing" in line)

