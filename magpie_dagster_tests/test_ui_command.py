"""`magpie-dagster ui` serves the Dagster UI on the project's instance with the nightly refresh running: the real
`dagster dev` on a loopback port, read through its GraphQL API, stopped by its PID."""

from __future__ import annotations

from pathlib import Path

import pytest

from magpie_dagster_tests.ui_server import REPOSITORY, graphql, serving_ui

DEFAULT_CATALOGUE = Path(__file__).parents[1] / "magpie_dagster" / "catalogue.yaml"


def _serve_and_read(tmp_path: Path, catalogue: Path) -> tuple[dict, str]:
    with serving_ui(tmp_path, catalogue) as (port, log):
        [repository] = graphql(port, REPOSITORY)["repositoriesOrError"]["nodes"]
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
