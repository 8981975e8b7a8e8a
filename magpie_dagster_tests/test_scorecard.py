"""The night's scorecard through Dagster with the fake engine: its numbers against SQL over the stages' own tables,
the totals against the models, the card and the asset's metadata, and the drift check firing on a judge that
switched to one category."""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg
import pytest

from magpie_dagster.defs.assets.scorecard import DRIFT_CHECK
from magpie_dagster_tests.backends import FILE_ONLY, file_backend
from magpie_dagster_tests.fakes import FakeEngineResource
from magpie_dagster_tests.projects import Project

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 10}
  - {key: beta, engine: llama_cpp, model: b.gguf, template: qwen2.5, instructions_per_batch: 10}
judging:
  judge: {engine: llama_cpp, model: judge.gguf}
  reward: {kind: judge_score}
curation:
  recipe:
    name: test-recipe
    rules:
      - {rule: first_of_group}
      - {rule: category_shares, shares: {Math: {min: 0.5}}}
preference: {samples: 3, max_instructions: 4}
"""


def run_nights(project: Project, nights, engines: FakeEngineResource | None = None) -> list[dg.ExecuteInProcessResult]:
    """Both models' partitions, then the nightly stages, night by night in one instance; the nightly results."""
    engines = engines or FakeEngineResource()
    instance = dg.DagsterInstance.ephemeral()
    curated = []
    for night in nights:
        for model in ("alpha", "beta"):
            assert project.materialise(model, engines, night=night, instance=instance).success
        curated.append(project.curate(engines, night=night, instance=instance))
        assert curated[-1].success
    return curated


def scorecard(project: Project, night: dt.date = NIGHT) -> dict[str, dict]:
    with project.backend.warehouse().connect(read_only=True) as connection:
        cursor = connection.execute("SELECT * FROM night_scorecard WHERE night = ?", [night])
        names = [column[0] for column in cursor.description]
        return {row[1]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def test_a_nights_scorecard_counts_what_its_stages_stored(project):
    [result] = run_nights(project, [NIGHT])
    card = scorecard(project)
    assert sorted(card) == ["*", "alpha", "beta"]
    for model in ("alpha", "beta"):
        [(generated, usable)] = project.query(
            "SELECT count(*), count(*) FILTER (drop_reason IS NULL) FROM instructions WHERE model = ?", [model]
        )
        [(curated,)] = project.query(
            "SELECT count(*) FROM curated_rows WHERE model = ? AND drop_reason IS NULL", [model]
        )
        categories = dict(
            project.query(
                "SELECT t.task_category, count(*) FROM curated_rows c JOIN instruction_tags t USING (conversation_id) "
                "WHERE c.model = ? AND c.drop_reason IS NULL GROUP BY 1",
                [model],
            )
        )
        row = card[model]
        assert (row["instructions"], row["curated_rows"]) == (generated, curated)
        assert row["usable_rate"] == pytest.approx(usable / generated, abs=1e-4)
        entropy = -sum(n / curated * math.log2(n / curated) for n in categories.values())
        assert row["category_entropy"] == pytest.approx(entropy, abs=1e-4)
        assert row["task_category_shares"] == pytest.approx({c: n / curated for c, n in categories.items()}, abs=1e-4)
        assert 1.0 <= row["diversity_vendi"] <= curated
        assert row["judge_failure_rate"] == 0.0 and set(row["judge_failure_rates"]) >= {"difficulty", "quality"}
        assert sum(row["difficulty_shares"].values()) == pytest.approx(1.0, abs=1e-3)
        assert row["category_mix_distance"] == pytest.approx(max(0.0, 0.5 - categories.get("Math", 0) / curated))
    totals = card["*"]
    assert totals["instructions"] == card["alpha"]["instructions"] + card["beta"]["instructions"]
    assert totals["curated_rows"] == card["alpha"]["curated_rows"] + card["beta"]["curated_rows"]
    [(pairs, longer)] = project.query(
        "SELECT count(*), count(*) FILTER (length(chosen[-1].content) > length(rejected[-1].content)) "
        "FROM preference_pairs"
    )
    assert pairs > 0 and totals["chosen_longer_share"] == pytest.approx(longer / pairs, abs=1e-4)
    scorecard_run = result.asset_materializations_for_node("night_scorecard")[0].metadata
    assert scorecard_run["usable_rate"].value == pytest.approx(totals["usable_rate"])
    assert scorecard_run["curated_rows"].value == totals["curated_rows"]
    readme = (project.backend.exports_path / NIGHT.isoformat() / "README.md").read_text()
    assert "### Scorecard" in readme
    assert f"| curated_rows | {card['alpha']['curated_rows']} | {card['beta']['curated_rows']} | " in readme


@FILE_ONLY
def test_a_repeated_night_is_duplicated_within_itself_and_against_the_night_before(project):
    """The `repetitive` fake asks four questions over and over: every row has a twin that night, and from the
    second night on a twin in the corpus too; the curated rows, one per question, have four distinct meanings."""
    first, second = NIGHT, NIGHT + dt.timedelta(days=1)
    run_nights(project, [first, second], FakeEngineResource(script="repetitive"))
    assert scorecard(project, first)["*"]["near_duplicate_rate"] == 1.0
    assert scorecard(project, first)["*"]["corpus_duplicate_rate"] == 0.0
    assert scorecard(project, second)["*"]["corpus_duplicate_rate"] == 1.0
    assert scorecard(project, first)["*"]["diversity_vendi"] <= 4.0 + 1e-6


def test_a_judge_that_turns_to_one_category_fires_the_drift_check(tmp_path):
    """Two nights with a judge that reads the instructions, then one whose judge says "Coding & Debugging" to
    everything: the category entropy falls from ~1.5 bits to 0, outside its 0.75 band; the nights before pass (too
    few nights before them to judge: `min_nights` 2 here, one night fewer to run than the default 3)."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(
        CATALOGUE.replace("      - {rule: category_shares, shares: {Math: {min: 0.5}}}\n", "")
        + "scorecard: {min_nights: 2}\n"
    )
    project = Project(catalogue, file_backend(tmp_path), NIGHT)
    nights = [NIGHT + dt.timedelta(days=offset) for offset in range(3)]
    results = run_nights(project, nights[:2])
    results += run_nights(project, nights[2:], FakeEngineResource(judge_script="constant"))
    checks = [result.get_asset_check_evaluations()[0] for result in results]
    assert [check.check_name for check in checks] == [DRIFT_CHECK] * 3
    assert [check.passed for check in checks] == [True, True, False]
    assert checks[-1].severity == dg.AssetCheckSeverity.WARN
    drifted = checks[-1].metadata["drifted"].value
    assert "category_entropy" in drifted and "category_entropy 0 is" in drifted["category_entropy"]
    assert checks[-1].metadata["earlier_nights"].value == 2
    assert scorecard(project, nights[2])["*"]["degenerate_tags"] == ["difficulty", "input_quality", "task_category"]


def test_a_second_judge_that_disagrees_lowers_kappa_and_fires_the_check(tmp_path):
    """A second judge that reads like the first agrees on every sampled label (kappa 1); one that answers the same
    whatever it reads falls to chance or below, and the check warns. A re-run asks the second judge nothing again."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(
        CATALOGUE
        + "scorecard:\n  second_judge: {judge: {engine: llama_cpp, model: judge2.gguf}, sample: 8, min_kappa: 0.2}\n"
    )
    project = Project(catalogue, file_backend(tmp_path), NIGHT)
    agreeing, disagreeing = NIGHT, NIGHT + dt.timedelta(days=1)
    [same] = run_nights(project, [agreeing])
    [other] = run_nights(project, [disagreeing], FakeEngineResource(second_judge_script="constant"))
    checks = {result: result.get_asset_check_evaluations() for result in (same, other)}
    [agrees] = [check for check in checks[same] if check.check_name == "second_judge_agrees"]
    [disagrees] = [check for check in checks[other] if check.check_name == "second_judge_agrees"]
    assert agrees.passed and not disagrees.passed and disagrees.severity == dg.AssetCheckSeverity.WARN
    first, second = scorecard(project, agreeing)["*"], scorecard(project, disagreeing)["*"]
    assert first["judge_agreement"] == {"category": 1.0, "difficulty": 1.0, "quality": 1.0}
    assert first["judge_kappa"] == {"category": 1.0, "difficulty": 1.0, "quality": 1.0}
    assert second["judge_kappa_min"] < 0.2 and set(disagrees.metadata["kappa_under_floor"].value) <= set(
        second["judge_kappa"]
    )
    assert second["judge_agreement"]["difficulty"] < 1.0
    [(rows, labelled)] = project.query(
        "SELECT count(*), count(second_label) FROM second_judgements WHERE night = ?", [disagreeing]
    )
    assert rows == labelled == 8 * 3, "8 sampled instructions x 3 tags, every answer parsed"
    calls = project.query("SELECT count(*) FROM engine_calls WHERE engine_label = 'second_judge'")[0][0]
    assert calls > 0
    assert project.curate(FakeEngineResource(second_judge_script="constant"), night=disagreeing).success
    again = project.query("SELECT count(*) FROM engine_calls WHERE engine_label = 'second_judge'")[0][0]
    assert again == calls, "stored opinions are not asked again"
