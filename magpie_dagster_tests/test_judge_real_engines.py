"""Judging on real engines: the embedded SmolLM2 with a grammar from the schema, and a llama.cpp server
through the OpenAI client with `response_format`."""

from __future__ import annotations

import pytest

from magpie_dagster.domain.tagging.judge import JudgeItem, judge_items
from magpie_dagster.domain.tagging.labels import DIFFICULTY, INPUT_QUALITY, TASK_CATEGORIES
from magpie_dagster.domain.tagging.tags import TAGS
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.engines.openai_server import OpenAICompletionsEngine
from magpie_dagster.engines.packaged_model import PACKAGED_SMOLLM2

pytestmark = pytest.mark.slow

ITEMS = [
    JudgeItem("a", "How do I reverse a list in Python?"),
    JudgeItem("b", "Write a haiku about autumn leaves."),
    JudgeItem("c", "What is 17 times 23?"),
    JudgeItem("d", "Plan a three-day trip to Rome on a budget."),
]


@pytest.fixture(scope="module")
def embedded():
    with LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=2048, n_threads=2) as engine:
        yield engine


@pytest.mark.parametrize(
    ("tag", "field", "labels"),
    [("difficulty", "difficulty", DIFFICULTY), ("quality", "input_quality", INPUT_QUALITY),
     ("category", "task_category", TASK_CATEGORIES)],
)
def test_constrained_embedded_judge_gives_in_set_labels(embedded, tag, field, labels):
    """The grammar admits only the schema, so an answer can fail only by running out of tokens."""
    results = judge_items(embedded, ITEMS, TAGS[tag], max_retries=2)
    assert [result.conversation_id for result in results] == [item.conversation_id for item in ITEMS]
    assert all(result.constrained for result in results)
    for result in results:
        if result.ok:
            assert result.columns[field] in labels and result.error is None
        else:
            assert result.error.endswith("(the answer hit max_tokens)") and result.attempts == 3, result.raw_answer
    assert all(result.completion_tokens > 0 and result.judge_model for result in results)


def test_unconstrained_embedded_judge_still_parses_or_records_why(embedded):
    results = judge_items(embedded, ITEMS[:2], TAGS["quality"], max_retries=1, constrained=False)
    assert not any(result.constrained for result in results)
    for result in results:
        if result.ok:
            assert result.columns["input_quality"] in INPUT_QUALITY and result.error is None
        else:  # both attempts failed: the last answer and the reason are kept, no label is invented
            assert result.attempts == 2 and result.error and result.columns is None


def test_server_judge_uses_response_format(llama_cpp_server):
    engine = OpenAICompletionsEngine(
        "smollm2", base_url=llama_cpp_server, structured_output="json_object", timeout_s=120, max_concurrency=2
    )
    try:
        results = judge_items(engine, ITEMS[:3], TAGS["difficulty"], max_retries=1)
    finally:
        engine.close()
    assert all(result.constrained for result in results)
    for result in results:
        if result.ok:
            assert result.columns["difficulty"] in DIFFICULTY
        else:
            assert result.error.endswith("(the answer hit max_tokens)"), result.raw_answer
