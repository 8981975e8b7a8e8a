"""1000 random and garbled judge answers through the judging path: nothing escapes, every row is accounted for."""

from __future__ import annotations

import json
import random
import string

from magpie_dagster.domain.completion import ChatRequest
from magpie_dagster.domain.tagging.judge import JudgeItem, judge_items
from magpie_dagster.domain.tagging.labels import LABEL_SETS
from magpie_dagster.domain.tagging.tags import TAGS
from magpie_dagster.engines.fake import FakeEngine

VALID = {
    "difficulty": {"intent": "The user wants x.", "knowledge": "Needs y.", "difficulty": "hard"},
    "quality": {"quality_explanation": "Clear.", "input_quality": "good"},
    "category": {"primary_tag": "Math", "other_tags": ["Reasoning"]},
}


def _garble(rng: random.Random, tag: str) -> str:
    valid = json.dumps(VALID[tag], ensure_ascii=rng.random() < 0.5)
    kind = rng.randrange(10)
    if kind == 0:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(0, 200)))
    if kind == 1:
        return valid[: rng.randrange(len(valid))]
    if kind == 2:
        chars = list(valid)
        for _ in range(rng.randrange(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice('{}[]",:\\\'\n ')
        return "".join(chars)
    if kind == 3:
        return f"Sure!\n```json\n{valid}\n```\nAnything else?"
    if kind == 4:
        return valid.replace('"', "'")
    if kind == 5:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(1, 80)))
    if kind == 6:
        return valid.replace(json.dumps(VALID[tag][list(VALID[tag])[-1]]), json.dumps(rng.choice(["", 7, None, "meh"])))
    if kind == 7:
        return "{" * rng.randrange(1, 50) + "}" * rng.randrange(0, 50)
    if kind == 8:
        return valid + "," + valid
    return valid


def test_garbled_answers_never_escape_and_every_row_is_tagged_or_failed():
    rng = random.Random(20261124)
    for tag in ("difficulty", "quality", "category"):
        answers = {}

        def answer_for(request: ChatRequest, tag=tag, answers=answers) -> str:
            answers.setdefault(request.seed, _garble(rng, tag))
            return answers[request.seed]

        engine = FakeEngine(answer_for=answer_for, supports_json_schema=False)
        items = [JudgeItem(f"c{index}", f"instruction {index}") for index in range(334)]
        results = judge_items(engine, items, TAGS[tag], max_retries=1)
        assert [result.conversation_id for result in results] == [item.conversation_id for item in items]
        for result in results:
            assert 1 <= result.attempts <= 2
            if result.ok:
                assert result.error is None
                for field, labels in LABEL_SETS.items():
                    if field in result.columns:
                        assert result.columns[field] in labels
            else:
                assert result.error and result.raw_answer == answers[_last_seed(engine, result.conversation_id)]
        parsed = sum(result.ok for result in results)
        assert 0 < parsed < len(results), "the garbling mixes answers that parse with ones that cannot"


def _last_seed(engine: FakeEngine, conversation_id: str) -> int:
    seeds = [request.seed for request in engine.chat_requests if f"instruction {conversation_id[1:]}\n" in
             request.messages[-1]["content"]]
    return seeds[-1]
