"""The whole chain on REAL models: SmolLM2 generates and judges, MiniLM embeds, and the night's curated subset
and exports land and load."""

from __future__ import annotations

import datetime as dt
import textwrap

import dagster as dg
import polars as pl
import pytest

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.storage.warehouse import Warehouse

pytestmark = pytest.mark.slow

NIGHT = dt.date(2026, 11, 22)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - key: smollm2_135m
    engine: llama_cpp
    model: packaged:smollm2-135m-instruct
    template: smollm2
    instructions_per_batch: 5
    batch_size: 5
    instruction_sampling: {temperature: 1.0, top_p: 1.0, max_tokens: 64}
    response_sampling: {temperature: 0.7, top_p: 0.9, repetition_penalty: 1.1, max_tokens: 96}
    n_ctx: 1024
    n_threads: 2
judging:
  judge: {engine: llama_cpp, model: packaged:smollm2-135m-instruct, n_ctx: 2048, n_threads: 2, tags: [category],
          max_tokens: 96, max_failure_rate: 1.0}
  reward: {kind: judge_score}
curation:
  recipe: magpie-pro-300k-filtered
preference: {samples: 2, max_instructions: 1, sampling: {temperature: 0.8, max_tokens: 48}}
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
        answered = connection.execute("SELECT count(*) FROM responses WHERE drop_reason IS NULL").fetchone()[0]
        dedup = connection.execute("SELECT count(*), max(embedder) FROM dedup_results").fetchone()
        decisions = connection.execute(
            "SELECT count(*), count(*) FILTER (drop_reason IS NULL) FROM curated_rows"
        ).fetchone()
        scored = connection.execute("SELECT count(*) FROM judgements WHERE tag = 'reward'").fetchone()[0]
    assert answered >= 2 and dedup[1] == "packaged:all-minilm-l6-v2" and dedup[0] >= answered
    assert decisions[0] == answered and decisions[1] >= 1
    assert scored == answered
    exports = warehouse.parent / "exports" / NIGHT.isoformat()
    from datasets import load_dataset

    assert len(load_dataset("json", data_files=str(exports / "sharegpt.jsonl"), split="train")) == decisions[1]
    assert pl.read_parquet(exports / "curated.parquet").height == decisions[1]
    assert "magpie-pro-300k-filtered" in (exports / "README.md").read_text()
