"""What `magpie-dagster run` prints: a line per stage (bars on a terminal, plain lines in a pipe), Dagster's event
log in a file under DAGSTER_HOME (or here with `--verbose`), and a closing table of rows, drop reasons and times."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from magpie_dagster.cli import live_view, night_report
from magpie_dagster.cli.live_view import BarView, PlainView
from magpie_dagster.defs.progress import Progress, parse_progress, progress_message
from magpie_dagster.domain.generation.progress import GenerationProgress
from magpie_dagster_tests.servers import recording_completions_server

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
nightly: false
models:
  - {{key: served, engine: openai, model: m, template: qwen2.5, base_url: "{base_url}",
     instructions_per_batch: 6, batch_size: 2}}
judging:
  judge: {{engine: openai, model: m, base_url: "{base_url}", tags: []}}
"""
STEPS = ("raw_instructions", "responses", "instruction_tags", "dedup_results")


def test_progress_lines_parse_back_to_numbers():
    generation = GenerationProgress(total=50, started=time.monotonic() - 2.0)  # ~20 tokens/s, barely moving
    generation.record(10, 40, None)
    message = progress_message("served|2026-11-20", "responses", generation.done, generation.total, generation.rates())
    parsed = parse_progress(message)
    assert parsed.what == "responses" and (parsed.done, parsed.total) == (1, 50)
    assert parsed.tokens_per_s == pytest.approx(generation.tokens_per_s, rel=0.05)
    judged = parse_progress(progress_message("a|2026-11-20", "task_category", 8, 12, "judged, 1 failed, 9.5 tokens/s"))
    assert judged == Progress("task_category", 8, 12, 9.5)
    pairs = parse_progress(progress_message("2026-11-20", "preference pairs", 3, 4, "scored, 1 ties"))
    assert pairs == Progress("preference pairs", 3, 4, None)
    assert parse_progress("[a|2026-11-20] 12 rows vs corpus of 40: 3 with a near-duplicate") is None
    assert parse_progress('Started execution of step "responses".') is None


def test_plain_lines_say_start_progress_at_most_every_30_s_and_end(monkeypatch):
    clock = iter([0.0, 1.0, 2.0, 31.0, 32.0])
    monkeypatch.setattr(live_view.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    view = PlainView(out)
    view.step_started("a|d", "responses")  # t=0
    view.step_progressed("a|d", "responses", Progress("responses", 2, 10, 80.0))  # t=1: too soon
    view.step_progressed("a|d", "responses", Progress("responses", 4, 10, 80.0))  # t=2: too soon
    view.step_progressed("a|d", "responses", Progress("responses", 6, 10, 81.0))  # t=31
    view.step_progressed("a|d", "responses", Progress("responses", 10, 10, 82.0))  # t=32: the last always shows
    view.step_ended("a|d", "responses", True, 32.5)
    assert out.getvalue().splitlines() == [
        "a|d responses: started",
        "a|d responses: responses 6/10, 81 tokens/s",
        "a|d responses: responses 10/10, 82 tokens/s",
        "a|d responses: done in 32.5 s",
    ]


def test_bars_show_rows_done_of_planned_and_the_rate():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150, color_system=None)
    with BarView(console) as view:
        view.step_started("a|d", "responses")
        view.step_progressed("a|d", "responses", Progress("responses", 7, 20, 95.0))
        view.bars.refresh()
        assert "a|d responses (responses)" in out.getvalue() and "7/20" in out.getvalue()
        assert "95 tok/s" in out.getvalue()
        view.step_ended("a|d", "responses", False, 3.0)
        view.bars.refresh()
    assert "a|d responses FAILED" in out.getvalue() and "20/20" in out.getvalue()


@pytest.fixture(scope="module")
def night_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """The same night run quietly and with --verbose (each in its own project), against a loopback server."""
    runs = {}
    with recording_completions_server() as (base_url, _):
        for mode in ("quiet", "verbose"):
            root = tmp_path_factory.mktemp(mode)
            (root / "catalogue.yaml").write_text(CATALOGUE.format(base_url=base_url))
            environment = {
                **os.environ,
                "MAGPIE_CATALOGUE": str(root / "catalogue.yaml"),
                "MAGPIE_WAREHOUSE": str(root / "data" / "magpie.duckdb"),
                "DAGSTER_HOME": str(root / "dagster_home"),
            }
            extra = ["--verbose"] if mode == "verbose" else []
            runs[mode] = subprocess.run(
                [sys.executable, "-m", "magpie_dagster", "run", "--date", NIGHT.isoformat(), *extra],
                env=environment,
                capture_output=True,
                text=True,
                timeout=600,
            ), root
    return runs


def test_the_times_table_lists_stages_in_the_pipelines_order():
    """Steps finish in any order across partitions; the table reads them in the stage list's order."""
    seconds = {
        "alpha|2026-12-03": {"instruction_tags": 3.0, "responses": 2.0, "raw_instructions": 1.0},
        "2026-12-03": {"night_rounds": 0.5, "curated_subset": 0.4},
    }
    console = Console(file=io.StringIO(), width=120)
    console.print(night_report._times_table(seconds))
    steps = {step for partition in seconds.values() for step in partition}
    lines = [line.split() for line in console.file.getvalue().splitlines()]
    rows = [cells[1] for cells in lines if len(cells) > 1 and cells[1] in steps]
    assert rows == ["raw_instructions", "responses", "instruction_tags", "curated_subset", "night_rounds"]


@pytest.mark.slow  # two whole nights through the CLI against a loopback server, as test_fault_nights
def test_a_quiet_night_prints_its_stages_and_a_table_and_logs_dagster_to_a_file(night_runs):
    completed, root = night_runs["quiet"]
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    log_path = root / "dagster_home" / "logs" / "night-2026-11-20.log"
    assert lines[0] == f"Dagster's event log: {log_path} (--verbose prints it here)"
    assert not [line for line in lines if " - DEBUG - " in line or " - INFO - " in line], "no Dagster event line"
    for step in STEPS:
        assert f"served|2026-11-20 {step}: started" in lines
        assert [line for line in lines if line.startswith(f"served|2026-11-20 {step}: done in ")]
    assert "night 2026-11-20 curated_subset: started" in lines
    table = completed.stdout[completed.stdout.index("rows of 2026-11-20") :]
    [row] = [line for line in table.splitlines() if "served" in line and "│" in line][:1]
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[0] == "served" and cells[1] == "6", row  # 6 instructions planned and stored
    assert "seconds per stage" in completed.stdout and "curated subset" in completed.stdout
    assert len(lines) < 60, completed.stdout
    assert "Warning" not in completed.stdout + completed.stderr
    logged = log_path.read_text()
    for step in STEPS:
        assert f'Finished execution of step "{step}"' in logged
    assert "[served|2026-11-20] instructions: 6/6 done" in logged
    assert re.search(r"\[served\|2026-11-20\] responses: (\d+)/\1 done", logged)


@pytest.mark.slow  # two whole nights through the CLI against a loopback server, as test_fault_nights
def test_verbose_streams_dagster_events_as_before(night_runs):
    quiet, _ = night_runs["quiet"]
    completed, root = night_runs["verbose"]
    assert completed.returncode == 0, completed.stderr[-3000:]
    streamed = completed.stdout + completed.stderr
    assert " - DEBUG - " in streamed and 'Finished execution of step "responses"' in streamed
    assert len(streamed.splitlines()) > 2 * len(quiet.stdout.splitlines())
    logged = (root / "dagster_home" / "logs" / "night-2026-11-20.log").read_text()
    assert 'Finished execution of step "responses"' in logged, "the file is written with --verbose too"


def test_a_stage_that_decodes_nothing_reports_no_rate():
    assert parse_progress("[a|d] language: 31/31 judged (0 reused), 0 failed, 0.0 tokens/s").tokens_per_s is None
