"""The Dagster UI as a user meets it, in a real browser: headless Chromium (Debian's package) driven by Playwright,
against `magpie-dagster ui` on loopback (stopped by its PID) with a loopback completions server as the model.

The asset graph shows every stage in its group; a partition is materialised by clicking Materialize and choosing
model x date; the run succeeds and its rows reach the read copy; the materialisation's metadata renders (numbers,
drop reasons, the preview table); the nightly schedule shows as running. Every step leaves a screenshot in the
test's temp dir (`screens/`), so a failure shows what the page looked like.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from magpie_dagster_tests.debian import installed
from magpie_dagster_tests.servers import recording_completions_server
from magpie_dagster_tests.ui_server import serving_ui

pytestmark = [pytest.mark.slow, pytest.mark.browser]

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {{key: served, engine: openai, model: m, template: qwen2.5, base_url: "{base_url}",
     instructions_per_batch: 6, batch_size: 2}}
judging:
  judge: {{engine: openai, model: m, base_url: "{base_url}", tags: []}}
"""
GROUPS = {
    "generation": ("raw_instructions", "responses"),
    "tagging": ("instruction_tags",),
    "dedup": ("dedup_results",),
    "curation": ("curated_subset", "preference_pairs", "night_scorecard", "dataset_export", "night_rounds"),
}
LOCATION = "magpie_dagster.definitions"
PREVIEW_COLUMNS = ["instruction", "drop_reason", "sanitiser_rules", "finish_reason"]


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The UI's base URL and the project root, with the model served on loopback."""
    root = tmp_path_factory.mktemp("ui_project")
    with recording_completions_server() as (base_url, _):
        (root / "catalogue.yaml").write_text(CATALOGUE.format(base_url=base_url))
        with serving_ui(root, root / "catalogue.yaml") as (port, _log):
            yield f"http://127.0.0.1:{port}", root


@pytest.fixture(scope="module")
def page(ui, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    chromium = installed("chromium", lambda: shutil.which("chromium"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 2400, "height": 1400})
        page.set_default_timeout(30_000)
        page.goto(ui[0] + "/overview", wait_until="networkidle")
        skip = page.get_by_role("button", name="Skip")  # Dagster's community dialog, on the first visit only
        skip.wait_for(timeout=15_000)
        skip.click()
        page.screens = tmp_path_factory.mktemp("screens")
        yield page
        browser.close()


@contextmanager
def step(page, name: str) -> Iterator[None]:
    """A screenshot after the step, whether it passed or failed."""
    try:
        yield
    finally:
        page.screenshot(path=str(page.screens / f"{name}.png"))


def test_the_asset_graph_shows_every_stage_in_its_group(ui, page):
    with step(page, "asset_graph"):
        expanded = ",".join(f"global@global:{group}" for group in GROUPS)  # what clicking each group's unfold sets
        page.goto(f"{ui[0]}/asset-groups?expanded={quote(expanded)}", wait_until="networkidle")
        for group, assets in GROUPS.items():
            page.get_by_text(group, exact=True).first.wait_for()
            for asset in assets:
                page.get_by_text(asset, exact=True).first.wait_for()
        assert page.locator("[aria-label=unfold_more]").count() == 0, "every group is drawn open"


def test_a_partition_materialised_from_the_ui_runs_and_its_metadata_renders(ui, page):
    base_url, root = ui
    with step(page, "launch_dialog"):
        page.goto(base_url + "/assets/raw_instructions", wait_until="networkidle")
        page.get_by_text("User instructions sampled from each model's pre-query template").wait_for()
        page.get_by_role("button", name="Materialize…").click()
        dialog = page.get_by_role("dialog")
        dates = dialog.get_by_placeholder("ex: ", exact=False)
        dates.fill(NIGHT.isoformat())
        dates.press("Enter")
        dialog.get_by_text("Select a partition or create one").click()
        page.locator("label", has_text="served").first.click()
        dialog.get_by_text("Launch runs to materialize").click()  # closes the model list
        dialog.get_by_role("button", name="Launch 1 run").click()
    with step(page, "run"):
        page.goto(base_url + "/runs", wait_until="networkidle")
        page.get_by_text(f"partition: {NIGHT.isoformat()}|served").first.wait_for()
        page.locator("a[href*='/runs/']").first.click()
        page.get_by_text("Success", exact=True).first.wait_for(timeout=240_000)
        assert page.get_by_text("Failure", exact=True).count() == 0
    with step(page, "metadata"):
        page.goto(base_url + "/assets/raw_instructions", wait_until="networkidle")
        page.get_by_text(f"{NIGHT.isoformat()}|served").first.wait_for()
        # The run's metadata table (a key per row) beside the table's columns (its definition metadata).
        metadata = page.locator("table", has=page.get_by_role("cell", name="tokens_per_s", exact=True)).first
        metadata.wait_for()
        columns = page.locator("table", has=page.get_by_text("sanitiser_rules", exact=True)).first
        columns.wait_for()
        assert "raw_instruction" in columns.inner_text() and "gen_input_configs" in columns.inner_text()
        assert _value(page, metadata, "rows") == _value(page, metadata, "kept") == "6"
        assert _value(page, metadata, "drop_reasons") == "{}"
        preview = metadata.locator("table", has_text="finish_reason")  # the markdown table, drawn as a table
        assert preview.locator("th").all_inner_texts() == PREVIEW_COLUMNS
        instructions = preview.locator("tbody tr td:first-child").all_inner_texts()
        assert len(instructions) == 5 and all(text.startswith("sample for seed") for text in instructions)
    copy = root / "data" / "magpie.read.duckdb"
    with duckdb.connect(str(copy), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM instructions").fetchone() == (6,)


def test_the_nightly_schedule_shows_as_running(ui, page):
    with step(page, "schedule"):
        page.goto(f"{ui[0]}/locations/{LOCATION}/schedules/nightly_magpie", wait_until="networkidle")
        page.get_by_text("Every night at 02:00 UTC").wait_for()
        page.get_by_text("Running", exact=True).first.wait_for()
        tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        assert f"{tomorrow:%b} {tomorrow.day}, 2:00:00 AM UTC" in page.locator("body").inner_text()  # the next tick


def _value(page, metadata, key: str) -> str:
    """The value cell of a metadata key's row."""
    row = metadata.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True)).first
    return row.get_by_role("cell").last.inner_text().strip()
