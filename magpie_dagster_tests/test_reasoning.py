"""Reasoning models: the thinking is stored apart from the answer, a recipe can require it closed, and the exports
omit it, inline it as a <think> block or carry it as a field, as the catalogue says."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from magpie_dagster.domain.generation.reasoning import SplitAnswer, split_reasoning
from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import FakeEngineResource

NIGHT = dt.date(2026, 11, 26)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 9, batch_size: 3,
     probe: {enabled: false}}
curation:
  recipe: {name: thinking, rules: [{rule: require_reasoning}]}
exports: {reasoning: inline}
retries: {max_retries: 0}
"""


@pytest.mark.parametrize(
    ("text", "prompt", "expected"),
    [
        ("Plain answer.", "", SplitAnswer("Plain answer.")),
        ("<think>\nWhy? Because.\n</think>\n\nThe answer.", "", SplitAnswer("The answer.", "Why? Because.", True)),
        # DeepSeek-R1's generation prompt opens the block: the text starts inside it
        ("Hmm, sums.\n</think>\n\n4", "<｜Assistant｜><think>\n", SplitAnswer("4", "Hmm, sums.", True)),
        ("<think>First, the question", "", SplitAnswer("", "First, the question", False)),  # never closed
        ("<think>\n\n</think>\n\nHi.", "", SplitAnswer("Hi.")),  # thinking switched off: an empty block
        (
            "<|channel|>analysis<|message|>User wants 2+2.<|end|><|start|>assistant<|channel|>final<|message|>4"
            "<|return|>",
            "",
            SplitAnswer("4", "User wants 2+2.", True),
        ),
        ("<|channel|>analysis<|message|>User wants", "", SplitAnswer("", "User wants", False)),  # gpt-oss cut off
    ],
)
def test_reasoning_is_split_from_the_answer(text, prompt, expected):
    assert split_reasoning(text, prompt) == expected


def test_a_servers_reasoning_field_is_the_reasoning():
    assert split_reasoning(" 4 ", server_reasoning="2+2 is 4.") == SplitAnswer("4", "2+2 is 4.", True)


def _night(project, mode: str):
    project.catalogue.write_text(project.catalogue.read_text().replace("reasoning: inline", f"reasoning: {mode}"))
    engines = FakeEngineResource(script="thinking")
    assert project.materialise("alpha", engines).success
    assert project.curate(engines).success
    return project.backend.exports_path / NIGHT.isoformat()


def test_the_thinking_is_stored_apart_and_a_recipe_can_require_it_closed(project):
    directory = _night(project, "inline")
    rows = project.query("SELECT response, reasoning, reasoning_closed, drop_reason FROM responses")
    assert len(rows) == 9
    closed = [row for row in rows if row[2]]
    unclosed = [row for row in rows if row[2] is False]
    assert len(closed) + len(unclosed) == 9 and closed and unclosed
    assert all(row[1] == "The user asks a question; I recall the facts." and "<think>" not in row[0] for row in closed)
    # a block that never closed leaves no answer: the response is dropped as empty, its thinking kept
    assert all(row[0] == "" and row[3] == "empty" and row[1].startswith("Let me think") for row in unclosed)
    kept = project.query("SELECT count(*) FROM curated_rows WHERE drop_reason IS NULL")[0][0]
    assert kept == len(closed)
    # the conversation holds the answer only; the inline export writes the thinking back as a <think> block
    [conversation] = project.query("SELECT conversations FROM responses WHERE reasoning_closed LIMIT 1")[0]
    assert conversation[1]["value"].startswith("Here is a short explanation")
    lines = [json.loads(line) for line in (directory / "sharegpt.jsonl").read_text().splitlines()]
    assert len(lines) == kept and "reasoning" not in lines[0]
    assert lines[0]["conversations"][1]["value"].startswith(
        "<think>\nThe user asks a question; I recall the facts.\n</think>\n\nHere is a short explanation"
    )


@pytest.mark.parametrize("mode", ["omit", "field"])
@FILE_ONLY
def test_the_exports_omit_the_thinking_or_carry_it_as_a_field(project, mode):
    import polars as pl

    directory = _night(project, mode)
    messages = [json.loads(line) for line in (directory / "messages.jsonl").read_text().splitlines()]
    parquet = pl.read_parquet(directory / "curated.parquet")
    assert messages and all("<think>" not in message["messages"][1]["content"] for message in messages)
    if mode == "omit":
        assert "reasoning" not in messages[0] and "reasoning" not in parquet.columns
    else:
        assert {message["reasoning"] for message in messages} == {"The user asks a question; I recall the facts."}
        assert parquet["reasoning_closed"].to_list() == [True] * parquet.height
