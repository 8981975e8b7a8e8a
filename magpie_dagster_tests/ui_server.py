"""`magpie-dagster ui` for a test: the real `dagster dev` on a free loopback port, on a project's own instance and
warehouse, stopped by its PID (Ctrl-C to its process group, as a user stops it)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from magpie_dagster_tests.servers import free_loopback_port
from magpie_dagster_tests.sessions import wait_until_session_ends

REPOSITORY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  schedules { name scheduleState { status } }
  sensors { name sensorState { status } }
  assetGroups { groupName }
} } } }"""


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["data"]


@contextlib.contextmanager
def serving_ui(root: Path, catalogue: Path) -> Iterator[tuple[int, Path]]:
    """Yields (port, log file) once the UI answers with the project's repository; the warehouse is
    `root/data/magpie.duckdb`, the instance `root/dagster_home`."""
    port = free_loopback_port()
    environment = {
        **os.environ,
        "MAGPIE_CATALOGUE": str(catalogue),
        "MAGPIE_WAREHOUSE": str(root / "data" / "magpie.duckdb"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    log = root / "ui.log"
    with log.open("w") as output:
        ui = subprocess.Popen(
            [sys.executable, "-m", "magpie_dagster", "ui", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_repository(ui, port, log)
        yield port, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGINT)  # what Ctrl-C sends: dagster dev stops its webserver and daemon
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
        wait_until_session_ends(ui.pid, timeout_s=30)


def _wait_for_repository(ui: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 180
    while True:
        assert ui.poll() is None, f"the UI exited with {ui.returncode}: {log.read_text()[-3000:]}"
        try:
            graphql(port, REPOSITORY)["repositoriesOrError"]["nodes"][0]
            return
        except (OSError, KeyError, TypeError, ValueError, IndexError):
            if time.monotonic() > deadline:
                pytest.fail(f"the UI did not answer in 180 s: {log.read_text()[-3000:]}")
            time.sleep(1)
