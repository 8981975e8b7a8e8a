"""The tagging asset materialised per partition on both backends, with the deterministic fake judge."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from magpie_dagster.defs.assets.generation import fresh_run_config
from magpie_dagster.domain.tagging.labels import DIFFICULTY, INPUT_QUALITY, TASK_CATEGORIES
from magpie_dagster.domain.tagging.prompts import PROMPTS
from magpie_dagster.domain.tagging.tags import prompt_versions_of
from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import FakeEngineResource

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2, instructions_per_batch: 8}
judging:
  judge: {engine: llama_cpp, model: judge-model.gguf, max_retries: 1, max_failure_rate: 0.3}
  reward: {kind: judge_score}
"""


def run(project, engines=None, assets=("raw_instructions", "responses", "instruction_tags"), run_config=None):
    return project.materialise("alpha", engines, raise_on_error=False, assets=assets, run_config=run_config)


def tags_metadata(result):
    [materialisation] = [
        event.materialization for event in result.get_asset_materialization_events()
        if event.materialization.asset_key == dg.AssetKey("instruction_tags")
    ]
    return {key: value.value for key, value in materialisation.metadata.items()}


def checks(result):
    return {event.check_name: event.passed for event in result.get_asset_check_evaluations()}


def test_every_usable_instruction_gets_every_tag_with_the_released_names(project):
    result = run(project)
    assert result.success
    kept = project.query("SELECT count(*) FROM instructions WHERE drop_reason IS NULL")[0][0]
    rows = project.query(
        "SELECT intent, knowledge, difficulty, difficulty_generator, quality_explanation, input_quality, "
        "quality_generator, task_category, other_task_category, task_category_generator, language, "
        "instruct_reward, reward_model, failed_tags FROM instruction_tags",
    )
    assert len(rows) == kept > 0
    for row in rows:
        assert row[0] and row[1] and row[2] in DIFFICULTY and row[5] in INPUT_QUALITY and row[7] in TASK_CATEGORIES
        assert row[3] == row[6] == row[9] == row[12] == "judge-model.gguf"
        assert row[10] == "en" and 1 <= row[11] <= 10 and row[13] == []
    assert checks(result) == {
        "judge_parse_failure_rate": True, "labels_in_their_sets": True, "labels_not_degenerate": True
    }  # fmt: skip
    metadata = tags_metadata(result)
    assert metadata["rows"] == kept and metadata["failed"] == 0 and metadata["judged"] == 5 * kept
    assert "| difficulty |" in metadata["label_distributions"]


def test_a_rerun_reuses_judgements_and_a_new_prompt_version_rejudges_only_its_tag(project):
    assert run(project).success
    again = run(project, assets=("instruction_tags",))
    assert tags_metadata(again)["judged"] == 0
    [other_version] = [v for v in prompt_versions_of("quality") if v != PROMPTS["quality"].version]
    catalogue_path = project.catalogue
    catalogue_path.write_text(
        catalogue_path.read_text().replace("max_retries: 1,", f"max_retries: 1, prompts: {{quality: {other_version}}},")
    )
    third = run(project, assets=("instruction_tags",))
    kept = project.query("SELECT count(*) FROM instructions WHERE drop_reason IS NULL")[0][0]
    assert tags_metadata(third)["judged"] == kept
    versions = project.query("SELECT tag, prompt_version, count(*) FROM judgements GROUP BY ALL ORDER BY 1")
    assert ("quality", other_version, kept) in versions
    assert ("difficulty", PROMPTS["difficulty"].version, kept) in versions


@FILE_ONLY
def test_garbage_answers_are_retried_then_stored_as_failures_with_the_raw_answer(project):
    result = run(project, FakeEngineResource(judge_script="garbage_for_odd_seeds"))
    assert result.success
    metadata = tags_metadata(result)
    assert metadata["retried_ok"] > 0
    failures = project.query("SELECT raw_answer, error, attempts FROM judgements WHERE status = 'failed'")
    assert failures, "the fake judge answers prose to every odd seed, so some judgements fail twice"
    for raw_answer, error, attempts in failures:
        assert raw_answer == "I would say it is fine." and "no JSON object" in error and attempts == 2


@FILE_ONLY
def test_a_judge_that_always_fails_fails_the_check_not_the_run(project):
    result = run(project, FakeEngineResource(judge_script="always_garbage"))
    assert result.success
    assert checks(result) == {
        "judge_parse_failure_rate": False, "labels_in_their_sets": True, "labels_not_degenerate": True
    }  # fmt: skip
    kept = project.query("SELECT count(*) FROM instructions WHERE drop_reason IS NULL")[0][0]
    assert project.query("SELECT count(*) FROM judgements WHERE status = 'failed'")[0][0] == 4 * kept
    nulls = project.query("SELECT difficulty, failed_tags FROM instruction_tags LIMIT 1")[0]
    assert nulls == (None, ["category", "difficulty", "quality", "reward"])


def test_regenerated_instructions_drop_their_stale_judgements(project):
    assert run(project).success
    judged = {row[0] for row in project.query("SELECT DISTINCT conversation_id FROM judgements")}
    # Regenerated (fresh): every third instruction now echoes the template and is dropped.
    assert run(project, FakeEngineResource(script="echo_every_third"), run_config=fresh_run_config()).success
    usable = {row[0] for row in project.query("SELECT conversation_id FROM instructions WHERE drop_reason IS NULL")}
    assert judged - usable, "some judged instructions became unusable, so their judgements went stale"
    stale = project.query(
        "SELECT count(*) FROM judgements j ANTI JOIN instructions i ON i.conversation_id = j.conversation_id "
        "AND i.drop_reason IS NULL",
    )[0][0]
    assert stale == 0


@FILE_ONLY
def test_a_judge_that_gives_every_row_the_same_label_is_flagged_as_a_warning(project):
    catalogue = project.catalogue.read_text()
    project.catalogue.write_text(catalogue.replace("instructions_per_batch: 8", "instructions_per_batch: 24"))
    result = run(project, FakeEngineResource(judge_script="constant"))
    assert result.success, "a warning, not a failed run"
    [evaluation] = [
        event for event in result.get_asset_check_evaluations() if event.check_name == "labels_not_degenerate"
    ]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    degenerate = evaluation.metadata["degenerate"].value
    kept = project.query("SELECT count(*) FROM instructions WHERE drop_reason IS NULL")[0][0]
    assert kept >= 10
    assert degenerate == {
        "difficulty": {"label": "very easy", "share": 1.0, "rows": kept},
        "input_quality": {"label": "average", "share": 1.0, "rows": kept},
        "task_category": {"label": "Coding & Debugging", "share": 1.0, "rows": kept},
    }
