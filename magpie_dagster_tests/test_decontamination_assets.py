"""Decontamination through Dagster with the real packaged embedder (MiniLM): benchmark prompts planted in a night
(retyped, reworded, quoted) are found by the methods that can see them, stored, dropped by the recipe and counted
by the scorecard and the card; a new benchmark file re-checks earlier nights once; a removed one stops dropping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from magpie_dagster.defs.resources import EmbedderResource
from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import BENCHMARK_PROMPTS, PLANTED, FakeEngineResource

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 24}
judging:
  judge: {engine: llama_cpp, model: judge.gguf}
decontamination:
  benchmarks:
    - {name: held_out, path: held_out.jsonl, field: instruction}
"""
FILLER = ("Summarise the plot of Hamlet in three sentences.", "List five uses of baking soda around the house.")
EXPECTED_METHODS = {  # what each planted kind must be found by (the reworded one has no 8 words in a row in common)
    "exact": {"exact", "ngram", "embedding"},
    "paraphrase": {"embedding"},
    "quoted": {"ngram", "embedding"},
}
LEAKING = FakeEngineResource(script="leaking")


@pytest.fixture
def leaky(project):
    folder = project.catalogue.parent
    lines = [json.dumps({"instruction": text, "id": i}) for i, text in enumerate((*BENCHMARK_PROMPTS, *FILLER))]
    (folder / "held_out.jsonl").write_text("\n".join(lines) + "\n")
    return dataclasses.replace(project, embedder=EmbedderResource())


def night(project, when: dt.date, instance: dg.DagsterInstance) -> None:
    assert project.materialise("alpha", LEAKING, night=when, instance=instance).success
    assert project.curate(LEAKING, night=when, instance=instance).success


def hits(project) -> dict[str, set[str]]:
    """instruction text -> methods that found it."""
    found: dict[str, set[str]] = {}
    for text, method in project.query(
        "SELECT i.instruction, c.method FROM contamination c JOIN instructions i USING (conversation_id)"
    ):
        found.setdefault(text, set()).add(method)
    return found


def test_planted_prompts_are_found_stored_dropped_and_counted(leaky):
    night(leaky, NIGHT, dg.DagsterInstance.ephemeral())
    planted = {text: kind for kind, text in PLANTED.items()}
    rows = leaky.query("SELECT instruction FROM instructions WHERE drop_reason IS NULL")
    kinds = {planted[text] for (text,) in rows if text in planted}
    assert kinds == set(PLANTED) and len(rows) > len([r for r in rows if r[0] in planted]) > 0  # both kinds present
    assert hits(leaky) == {PLANTED[kind]: methods for kind, methods in EXPECTED_METHODS.items()}
    # Each hit names the benchmark and the prompt it repeats; the n-gram hit says which words.
    for text, prompt, method, shared in leaky.query(
        "SELECT i.instruction, c.prompt, c.method, c.shared_words FROM contamination c "
        "JOIN instructions i USING (conversation_id)"
    ):
        assert prompt == BENCHMARK_PROMPTS[list(PLANTED).index(planted[text])]
        assert (shared is not None and len(shared.split()) >= 13) == (method == "ngram")
    # The preset's first rule drops every hit and nothing else.
    dropped = dict(leaky.query(
        "SELECT i.instruction, c.drop_reason FROM curated_rows c JOIN instructions i USING (conversation_id)"
    ))
    assert {text for text, reason in dropped.items() if reason == "benchmark_contamination"} == set(PLANTED.values())
    [(rate, by_benchmark)] = leaky.query(
        "SELECT contamination_rate, contamination_by_benchmark FROM night_scorecard WHERE model = '*'"
    )
    leaked = sum(1 for (text,) in rows if text in planted)
    assert rate == pytest.approx(leaked / len(rows), abs=1e-4) and by_benchmark == {"held_out": leaked}
    card = next(Path(leaky.backend.exports_path).rglob("README.md")).read_text()
    assert "held_out" in card and "contamination_rate" in card


def test_a_new_benchmark_rechecks_earlier_nights_once_and_a_removed_one_stops_dropping(leaky):
    instance = dg.DagsterInstance.ephemeral()
    night(leaky, NIGHT, instance)
    # The second benchmark (Parquet) holds one of the first night's ordinary questions.
    [(question,)] = leaky.query(
        "SELECT instruction FROM instructions WHERE instruction LIKE 'How do%' ORDER BY conversation_id LIMIT 1"
    )
    folder = leaky.catalogue.parent
    other = "What is the capital of Australia, and why was it chosen over Sydney?"
    pl.DataFrame({"prompt": [question, other]}).write_parquet(folder / "company.parquet")
    leaky.catalogue.write_text(leaky.catalogue.read_text() + "    - {name: company, path: company.parquet}\n")
    later = NIGHT + dt.timedelta(days=1)
    result = leaky.materialise("alpha", LEAKING, night=later, instance=instance, assets=[
        "raw_instructions", "dedup_results", "benchmark_contamination"
    ])
    [metadata] = [
        event.materialization.metadata for event in result.get_asset_materialization_events()
        if event.asset_key.path[-1] == "benchmark_contamination"
    ]
    assert metadata["earlier_partitions_checked"].value == 1
    assert leaky.query("SELECT benchmark, count(*) FROM contamination_checks GROUP BY 1 ORDER BY 1") == [
        ("company", 2), ("held_out", 2)
    ]
    # The question is found by its exact text; the night's same-topic questions (only their tag differs) as
    # paraphrases of it; and the metadata counts what the table holds.
    company = leaky.query(
        "SELECT i.instruction, c.method FROM contamination c JOIN instructions i USING (conversation_id) "
        "WHERE c.benchmark = 'company' AND c.partition_date = ?", [NIGHT]
    )
    assert [text for text, method in company if method == "exact"] == [question]
    hit_rows = {text for text, _ in company}
    assert all(text.startswith(question[: question.index(",")]) for text in hit_rows)
    assert metadata["earlier_rows_hit"].value == {"alpha|2026-11-20": {"company": len(hit_rows)}}
    # Checked once: the same night again checks only itself.
    again = leaky.materialise("alpha", LEAKING, night=later, instance=instance, assets=["benchmark_contamination"])
    [metadata] = [e.materialization.metadata for e in again.get_asset_materialization_events()]
    assert metadata["earlier_partitions_checked"].value == 0
    # A benchmark taken out of the catalogue no longer holds hits, and a re-curated night keeps its rows.
    leaky.catalogue.write_text(leaky.catalogue.read_text().replace(
        "    - {name: held_out, path: held_out.jsonl, field: instruction}\n", ""
    ))
    checked = leaky.materialise("alpha", LEAKING, night=later, instance=instance, assets=["benchmark_contamination"])
    assert checked.success
    assert leaky.query("SELECT DISTINCT benchmark FROM contamination") == [("company",)]
    assert leaky.curate(LEAKING, night=NIGHT, instance=instance).success
    dropped = leaky.query(
        "SELECT i.instruction FROM curated_rows c JOIN instructions i USING (conversation_id) "
        "WHERE c.night = ? AND c.drop_reason = 'benchmark_contamination'", [NIGHT]
    )
    assert {text for (text,) in dropped} == hit_rows


@FILE_ONLY
def test_a_benchmark_file_without_its_field_fails_the_partition_naming_file_and_fields(leaky):
    (leaky.catalogue.parent / "held_out.jsonl").write_text(json.dumps({"question": "What is 2 + 2?"}) + "\n")
    result = leaky.materialise("alpha", LEAKING, raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert "benchmark 'held_out'" in message and "held_out.jsonl" in message
    assert "no field 'instruction'; its fields: question" in message
    assert leaky.query("SELECT count(*) FROM instructions")[0][0] > 0  # the stages before it kept their rows
