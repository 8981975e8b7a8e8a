"""A REAL `vllm serve` (vLLM's CPU build) of the packaged SmolLM2 on loopback, reached through the `openai` engine:
raw completions for generation, a `json_schema` judge, and a replica list whose first server is down.

What holds for any sample: the dead replica answers nothing and the live one everything; the server enforces a
schema whose labels the model would never write; a night's counts add up from instructions to tags.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import dagster as dg
import pytest

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.domain.chat_templates.derive import pre_query_prefix
from magpie_dagster.domain.chat_templates.families import get_family
from magpie_dagster.domain.completion import ChatRequest, CompletionRequest, SamplingParams
from magpie_dagster.domain.tagging.judge import JudgeItem, judge_items
from magpie_dagster.domain.tagging.labels import TASK_CATEGORIES
from magpie_dagster.domain.tagging.tags import TAGS
from magpie_dagster.engines.openai_server import OpenAICompletionsEngine
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.nights import seed_offset
from magpie_dagster_tests.servers import SERVED_MODEL_ID, free_loopback_port
from magpie_dagster_tests.vllm_cpu import LABEL_SCHEMA, LABELS, PINNED

# vLLM loads in ~1 min per process here; the suite's 600 s limit is for one model load or less.
pytestmark = [pytest.mark.slow, pytest.mark.vllm, pytest.mark.timeout(900)]

NIGHT = dt.date(2026, 11, 25)


@pytest.fixture
def down_replica() -> str:
    """A replica URL where nothing listens (the server is down)."""
    return f"http://127.0.0.1:{free_loopback_port()}/v1"


def test_raw_completions_go_to_the_live_replica_and_the_server_enforces_the_schema(vllm_server, down_replica):
    family = get_family("smollm2")
    prompt = pre_query_prefix(family.model_template(), [], PINNED)
    engine = OpenAICompletionsEngine(
        SERVED_MODEL_ID, base_url=[down_replica, vllm_server], max_concurrency=4, timeout_s=120, max_retries=1
    )
    sampling = SamplingParams(temperature=1.0, max_tokens=48, stop=family.stop_strings)
    try:
        completions = engine.complete([CompletionRequest(prompt, sampling, seed_offset() + seed) for seed in range(6)])
        messages = ({"role": "user", "content": "What is the capital of France? Answer in one word."},)
        params = SamplingParams(temperature=1.0, max_tokens=64)
        judged = engine.chat([ChatRequest(messages, params, seed_offset() + seed, LABEL_SCHEMA) for seed in range(4)])
        served = {replica.url: replica.served for replica in engine._replicas.replicas}
    finally:
        engine.close()
    assert len(completions) == 6 and all(completion.prompt_tokens > 0 for completion in completions)
    assert len({completion.text for completion in completions}) >= 5, "every seed its own sample"
    assert not any(stop in completion.text for completion in completions for stop in family.stop_strings)
    assert served == {down_replica: 0, vllm_server: 10}
    answered = [completion for completion in judged if completion.finish_reason == "stop"]
    assert answered, [completion.text for completion in judged]
    assert all(json.loads(completion.text)["label"] in LABELS for completion in answered)


def test_a_judge_on_vllm_serve_gives_in_set_categories(vllm_server):
    engine = OpenAICompletionsEngine(SERVED_MODEL_ID, base_url=vllm_server, structured_output="json_schema")
    items = [JudgeItem("a", "How do I reverse a list in Python?"), JudgeItem("b", "What is 17 times 23?")]
    try:
        results = judge_items(engine, items, TAGS["category"], max_retries=1)
    finally:
        engine.close()
    for result in results:
        if result.ok:
            assert result.columns["task_category"] in TASK_CATEGORIES
        else:
            assert result.error.endswith("(the answer hit max_tokens)"), result.raw_answer


CATALOGUE = """
start_date: "2026-11-01"
models:
  - key: served
    engine: openai
    model: {model}
    base_url: ["{down}", "{live}"]
    template: smollm2
    max_concurrency: 4
    max_retries: 1
    instructions_per_batch: 6
    batch_size: 6
    instruction_sampling: {{temperature: 1.0, top_p: 1.0, max_tokens: 64}}
    response_sampling: {{temperature: 0.7, top_p: 0.9, repetition_penalty: 1.1, max_tokens: 96}}
    probe: {{enabled: false}}
judging:
  judge: {{engine: openai, model: {model}, base_url: "{live}", structured_output: json_schema, tags: [category],
          max_tokens: 96, max_failure_rate: 1.0}}
"""


def test_a_night_on_vllm_serve_through_dagster(tmp_path, vllm_server, down_replica):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(CATALOGUE.format(model=SERVED_MODEL_ID, down=down_replica, live=vllm_server)))
    warehouse = tmp_path / "magpie.duckdb"
    result = (
        build_definitions(catalogue, warehouse)
        .resolve_job_def("magpie_job")
        .execute_in_process(
            partition_key=model_date_key("served", NIGHT),
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey(name) for name in ("raw_instructions", "responses", "instruction_tags")],
        )
    )
    assert result.success
    with Warehouse(warehouse).connect(read_only=True) as connection:
        instructions, usable = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE drop_reason IS NULL) FROM instructions"
        ).fetchone()
        responses = connection.execute("SELECT count(*) FROM responses").fetchone()[0]
        outcomes = dict(
            connection.execute("SELECT status, count(*) FROM judgements WHERE tag = 'category' GROUP BY 1").fetchall()
        )
        labels = {row[0] for row in connection.execute("SELECT task_category FROM instruction_tags").fetchall()}
    assert instructions == 6 and responses == usable
    assert sum(outcomes.values()) == usable and set(outcomes) <= {"ok", "failed"}
    assert labels - {None} <= set(TASK_CATEGORIES)
