"""`magpie-dagster ui` serves the Dagster UI on the project's instance with the nightly refresh running: the real
`dagster dev` on a loopback port, read through its GraphQL API, stopped by its PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from magpie_dagster_tests.servers import free_loopback_port
from magpie_dagster_tests.sessions import wait_until_session_ends

AUTOMATION = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  schedules { name scheduleState { status } }
  sensors { name sensorState { status } }
  assetGroups { groupName }
} } } }"""
DEFAULT_CATALOGUE = Path(__file__).parents[1] / "magpie_dagster" / "catalogue.yaml"


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["data"]


def _serve_and_read(tmp_path: Path, catalogue: Path) -> tuple[dict, str]:
    port = free_loopback_port()
    environment = {
        **os.environ,
        "MAGPIE_CATALOGUE": str(catalogue),
        "MAGPIE_WAREHOUSE": str(tmp_path / "data" / "magpie.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    log = tmp_path / "ui.log"
    with log.open("w") as output:
        ui = subprocess.Popen(
            [sys.executable, "-m", "magpie_dagster", "ui", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert ui.poll() is None, f"the UI exited with {ui.returncode}: {log.read_text()[-3000:]}"
            try:
                [repository] = _graphql(port, AUTOMATION)["repositoriesOrError"]["nodes"]
                break
            except (OSError, KeyError, TypeError, ValueError):
                if time.monotonic() > deadline:
                    pytest.fail(f"the UI did not answer in 180 s: {log.read_text()[-3000:]}")
                time.sleep(1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGINT)  # what Ctrl-C sends: dagster dev stops its webserver and daemon
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
    wait_until_session_ends(ui.pid, timeout_s=30)
    return repository, log.read_text()


@pytest.mark.slow
def test_the_ui_serves_the_project_with_the_nightly_refresh_running(tmp_path):
    repository, printed = _serve_and_read(tmp_path, DEFAULT_CATALOGUE)
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    assert schedules["nightly_magpie"] == "RUNNING"
    assert sensors["night_automation"] == "RUNNING"
    assert {group["groupName"] for group in repository["assetGroups"]} == {"generation", "tagging", "dedup", "curation"}
    assert (tmp_path / "dagster_home" / "dagster.yaml").exists(), "the project's instance, not a temporary one"
    assert "the nightly refresh is running" in printed


@pytest.mark.slow
def test_nightly_false_serves_the_schedule_stopped(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    shipped = DEFAULT_CATALOGUE.read_text()
    assert "\nnightly: true\n" in shipped
    catalogue.write_text(shipped.replace("\nnightly: true\n", "\nnightly: false\n"))
    repository, printed = _serve_and_read(tmp_path, catalogue)
    assert {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}["nightly_magpie"] == "STOPPED"
    assert {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}["night_automation"] == "STOPPED"
    assert "the nightly refresh is stopped" in printed
