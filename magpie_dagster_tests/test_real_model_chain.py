"""The whole chain on REAL models: SmolLM2 generates and judges, MiniLM embeds, and the night's curated subset
and exports land and load.

A real model's samples differ from one CPU to the next, so this asserts what holds for any sample: every stage
wrote its rows, every dropped row says why, and the counts add up from instructions to exports.
"""

from __future__ import annotations

import textwrap

import dagster as dg
import polars as pl
import pytest

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.domain.curation.presets import PRO_300K_FILTERED
from magpie_dagster.domain.generation.sanitise import DROP_REASONS
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.nights import embedded_model_catalogue, real_model_night

pytestmark = pytest.mark.slow

NIGHT = real_model_night("2026-11-22")
CATALOGUE = embedded_model_catalogue(
    template="smollm2", instructions=5, batch_size=5, instruction_max_tokens=64, response_max_tokens=512
) + """
judging:
  judge: {engine: llama_cpp, model: packaged:smollm2-135m-instruct, n_ctx: 2048, n_threads: 2, tags: [category],
          max_tokens: 96, max_failure_rate: 1.0}
  reward: {kind: judge_score}
curation:
  recipe: magpie-pro-300k-filtered
preference: {samples: 2, max_instructions: 1, sampling: {temperature: 0.8, max_tokens: 48}}
scorecard:
  second_judge:
    judge: {engine: llama_cpp, model: packaged:smollm2-135m-instruct, n_ctx: 2048, n_threads: 2, max_tokens: 96,
            temperature: 0.7}
    sample: 3
"""


def test_real_models_run_the_chain_to_loadable_exports(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(CATALOGUE))
    warehouse = tmp_path / "data" / "magpie.duckdb"
    defs = build_definitions(catalogue, warehouse)
    instance = dg.DagsterInstance.ephemeral()
    assert (
        defs.resolve_job_def("magpie_job")
        .execute_in_process(partition_key=model_date_key("smollm2_135m", NIGHT), instance=instance)
        .success
    )
    assert (
        defs.resolve_job_def("nightly_curation_job")
        .execute_in_process(partition_key=NIGHT.isoformat(), instance=instance)
        .success
    )
    with Warehouse(warehouse).connect(read_only=True) as connection:
        instruction_outcomes = dict(
            connection.execute("SELECT coalesce(drop_reason, 'kept'), count(*) FROM instructions GROUP BY 1").fetchall()
        )
        response_outcomes = dict(
            connection.execute(
                "SELECT coalesce(drop_reason, 'answered'), count(*) FROM responses GROUP BY 1"
            ).fetchall()
        )
        dedup = connection.execute("SELECT count(*), max(embedder) FROM dedup_results").fetchone()
        categories = connection.execute("SELECT count(*) FROM judgements WHERE tag = 'category'").fetchone()[0]
        scored = connection.execute("SELECT count(*) FROM judgements WHERE tag = 'reward'").fetchone()[0]
        curated = dict(
            connection.execute("SELECT coalesce(drop_reason, 'kept'), count(*) FROM curated_rows GROUP BY 1").fetchall()
        )
        ledger = connection.execute(
            "SELECT stage, sum(completion_tokens), count(*) FILTER (WHERE seconds <= 0 OR error IS NOT NULL) "
            "FROM engine_calls GROUP BY stage"
        ).fetchall()
        scorecard = connection.execute(
            "SELECT model, instructions, usable_rate, curated_rows, diversity_vendi, judge_failure_rate, "
            "instruction_drop_reasons, response_drop_reasons, near_duplicate_rate FROM night_scorecard ORDER BY model"
        ).fetchall()
        second = connection.execute(
            "SELECT tag, status, second_label IS NOT NULL, first_label IS NOT NULL FROM second_judgements"
        ).fetchall()
        stored_tokens = connection.execute(
            "SELECT (SELECT sum(completion_tokens) FROM instructions), (SELECT sum(completion_tokens) FROM responses)"
        ).fetchone()
    usable = instruction_outcomes.get("kept", 0)
    answered = response_outcomes.get("answered", 0)
    assert sum(instruction_outcomes.values()) == 5
    assert usable > 0 and answered > 0, "the checks below need rows: some instruction was usable and answered"
    # the cost ledger paid for exactly what was stored (no failures here), each call timed
    spent = {stage: (tokens, bad) for stage, tokens, bad in ledger}
    assert spent["raw_instructions"] == (stored_tokens[0], 0)
    assert spent["responses"][1] == 0 and spent["instruction_tags"][0] > 0
    assert set(instruction_outcomes) <= {"kept", *DROP_REASONS}
    assert sum(response_outcomes.values()) == usable, "every usable instruction is answered or says why not"
    assert set(response_outcomes) <= {"answered", "empty", "truncated", "looping"}
    assert dedup == (usable, "packaged:all-minilm-l6-v2")
    assert categories == usable and scored == answered
    kept = curated.get("kept", 0)
    assert sum(curated.values()) == answered
    assert set(curated) - {"kept"} <= {rule.name() for rule in PRO_300K_FILTERED.rules}
    # the scorecard of a real night: the model's row and the totals agree with the tables, whatever was sampled
    [totals, model_row] = scorecard
    assert totals[0] == "*" and model_row[0] == "smollm2_135m" and totals[1:4] == model_row[1:4]
    assert model_row[1:4] == (5, pytest.approx(usable / 5, abs=1e-4), kept)
    assert (model_row[4] is None) == (kept == 0) and (kept == 0 or 1.0 <= model_row[4] <= kept)
    assert 0.0 <= model_row[5] <= 1.0 and 0.0 <= model_row[8] <= 1.0
    assert model_row[6] == {reason: n for reason, n in instruction_outcomes.items() if reason != "kept"}
    assert model_row[7] == {reason: n for reason, n in response_outcomes.items() if reason != "answered"}
    # the second judge (the same packaged model, sampling warmer) re-judged up to 3 answered rows' category
    assert len(second) == min(3, answered) and {tag for tag, *_ in second} <= {"category"}
    assert all(status in ("ok", "failed") and labelled == (status == "ok") for _, status, labelled, _ in second)
    exports = warehouse.parent / "exports" / NIGHT.isoformat()
    from datasets import load_dataset

    sharegpt = (exports / "sharegpt.jsonl").read_text().splitlines()
    assert len(sharegpt) == kept == pl.read_parquet(exports / "curated.parquet").height
    if kept:
        assert len(load_dataset("json", data_files=str(exports / "sharegpt.jsonl"), split="train")) == kept
    card = (exports / "README.md").read_text()
    assert "magpie-pro-300k-filtered" in card and f"| curated_rows | {kept} | {kept} |" in card
