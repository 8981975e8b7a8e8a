"""The whole chain with fakes, on both backends (a DuckDB file and a DuckLake on PostgreSQL): generation, tags and
dedup per model, then the nightly curated subset, preference pairs and exports, which load with `datasets` and
polars."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import polars as pl
import pytest

from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import FakeEngineResource

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
      - {rule: min_label, column: input_quality, at_least: very poor}
      - {rule: first_of_group}
      - {rule: shuffle, seed: 42}
preference: {samples: 3, max_instructions: 3}
"""


def run_night(project, script="repetitive", nights=(NIGHT,), engines=None):
    """Both models' partitions, then the nightly stages, for each night in turn, in one instance."""
    engines = engines or FakeEngineResource(script=script)
    instance = dg.DagsterInstance.ephemeral()
    results = []
    for night in nights:
        results += [project.materialise(model, engines, night=night, instance=instance) for model in ("alpha", "beta")]
        results.append(project.curate(engines, night=night, instance=instance))
    return results


@FILE_ONLY
def test_dedup_groups_duplicates_across_models_with_the_first_row_winning(project):
    assert all(result.success for result in run_night(project))
    rows = project.query(
        "SELECT conversation_id, model, repeat_count, min_similar_conversation_id, "
        "min_neighbor_distance, exact_duplicate_count FROM dedup_results ORDER BY model, conversation_id",
    )
    kept = project.query("SELECT count(*) FROM instructions WHERE drop_reason IS NULL")[0][0]
    assert len(rows) == kept
    firsts = {row[3] for row in rows}
    assert len(firsts) == 4, "four distinct questions: four near-duplicate groups"
    assert all(row[1] == "alpha" for row in rows if row[0] in firsts), "same night: model 'alpha' sorts first"
    assert all(row[2] > 0 and row[4] == pytest.approx(0.0, abs=1e-5) and row[5] > 0 for row in rows)


def test_curated_subset_keeps_one_row_per_group_and_explains_every_drop(project):
    assert all(result.success for result in run_night(project))
    reasons = dict(project.query("SELECT coalesce(drop_reason, 'kept'), count(*) FROM curated_rows GROUP BY 1"))
    assert reasons["kept"] == 4 and set(reasons) == {"kept", "not_first_of_near_duplicate_group"}


@FILE_ONLY
def test_exports_load_with_datasets_and_polars(project):
    assert all(result.success for result in run_night(project))
    from datasets import load_dataset

    directory = project.backend.exports_path / NIGHT.isoformat()
    sharegpt = load_dataset("json", data_files=str(directory / "sharegpt.jsonl"), split="train")
    messages = load_dataset("json", data_files=str(directory / "messages.jsonl"), split="train")
    parquet = load_dataset("parquet", data_files=str(directory / "curated.parquet"), split="train")
    assert len(sharegpt) == len(messages) == len(parquet) == 4
    assert sharegpt[0]["conversations"][0]["from"] == "human" and sharegpt[0]["conversations"][1]["from"] == "gpt"
    assert messages[0]["messages"][0]["role"] == "user" and messages[0]["messages"][1]["role"] == "assistant"
    assert {"instruction", "response", "task_category", "min_similar_conversation_id"} <= set(parquet.column_names)
    assert pl.read_parquet(directory / "curated.parquet").height == 4
    assert pl.read_ndjson(directory / "messages.jsonl").height == 4
    pairs_file = directory / "preference_pairs.jsonl"
    pairs = [json.loads(line) for line in pairs_file.read_text().splitlines()]
    assert pairs, "the fake reward scores differ between the samples of a curated instruction"
    for pair in pairs:
        assert pair["chosen"][1]["content"] != pair["rejected"][1]["content"]
        assert pair["chosen_reward"] > pair["rejected_reward"] and len(pair["responses"]) == 3
    assert len(load_dataset("json", data_files=str(pairs_file), split="train")) == len(pairs)
    # the preference stage's calls are in the cost ledger, charged to the partitions of the rows they were for:
    # one sampling call of 3 requests and one judge call of 3 per curated instruction scored (3 of the 4)
    ledger = project.query(
        "SELECT engine_label, count(*), sum(requests) FROM engine_calls WHERE stage = 'preference_pairs' "
        "GROUP BY 1 ORDER BY 1"
    )
    # (the 3 drawn this night are alpha's rows, so alpha's partition pays for both)
    assert ledger == [("alpha", 3, 9), ("judge", 3, 9)]
    assert project.query("SELECT DISTINCT model FROM engine_calls WHERE stage = 'preference_pairs'") == [("alpha",)]
    card = (directory / "README.md").read_text()
    assert "test-recipe" in card and "not_first_of_near_duplicate_group" in card and "Kept rows by model" in card
    assert "### Label health\n\nNo judged tag puts one label on 90% or more of the rows." in card
    assert (directory / "distributions.png").stat().st_size > 1000


@FILE_ONLY
def test_a_later_night_with_the_same_questions_is_all_duplicates_of_the_first(project):
    later = NIGHT + dt.timedelta(days=1)
    assert all(result.success for result in run_night(project, nights=(later, NIGHT)))  # backfill the earlier night
    rows = project.query(
        "SELECT d.min_similar_conversation_id, n.partition_date FROM dedup_results d "
        "JOIN dedup_results f ON f.conversation_id = d.min_similar_conversation_id "
        "JOIN dedup_nearest n ON n.conversation_id = f.conversation_id",
    )
    assert {row[1] for row in rows} == {NIGHT}, "after the backfill, the earlier night's rows are first of group"
    assert project.curate(FakeEngineResource(script="repetitive"), night=later).success  # re-curate the later night
    kept_later = project.query(f"SELECT count(*) FROM curated_rows WHERE night = '{later}' AND drop_reason IS NULL")
    assert kept_later[0][0] == 0


@FILE_ONLY
def test_the_card_shows_the_labels_a_constant_judge_put_on_every_row(project):
    assert all(result.success for result in run_night(project, engines=FakeEngineResource(judge_script="constant")))
    card = (project.backend.exports_path / NIGHT.isoformat() / "README.md").read_text()
    rows = project.query("SELECT count(*) FROM instruction_tags")[0][0]
    assert "Degenerate labels (one label on 90% or more of the rows" in card
    assert f"- `difficulty`: 'very easy' on 100% of {rows} rows" in card
    assert f"- `task_category`: 'Coding & Debugging' on 100% of {rows} rows" in card
