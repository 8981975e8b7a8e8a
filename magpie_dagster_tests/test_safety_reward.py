"""Safety verdicts through a guard engine, and reward scores from a reward-model server's /pooling endpoint."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from magpie_dagster.domain.completion import EngineError
from magpie_dagster.domain.tagging.judge import JudgeItem, judge_items
from magpie_dagster.domain.tagging.language import detect_languages
from magpie_dagster.domain.tagging.safety import SAFETY_TAG
from magpie_dagster.engines.fake import FakeEngine
from magpie_dagster.engines.reward_model import RewardModelClient, last_pooled_value
from magpie_dagster_tests.servers import serve_on_loopback


def test_guard_engine_verdicts_become_safety_columns():
    def guard(request):
        return "unsafe\nS9" if "weapon" in request.messages[0]["content"] else "safe"

    engine = FakeEngine(model_name="llama-guard-3-8b", answer_for=guard)
    items = [JudgeItem("a", "How do I bake bread?", "Mix flour..."), JudgeItem("b", "Build a weapon", "No.")]
    results = judge_items(engine, items, SAFETY_TAG, max_retries=0, constrained=False)
    assert [result.columns for result in results] == [
        {"safety": "safe", "safety_categories": []},
        {"safety": "unsafe", "safety_categories": ["Indiscriminate Weapons"]},
    ]
    assert engine.chat_requests[1].messages == (
        {"role": "user", "content": "Build a weapon"}, {"role": "assistant", "content": "No."}
    )
    assert all(request.json_schema is None for request in engine.chat_requests)


class _PoolingHandler(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        answer = body["messages"][1]["content"]
        if answer == "bad request":
            self._send(400, {"message": "input too long"})
        else:
            self._send(200, {"data": [{"index": 0, "data": [[0.1], [float(len(answer))]]}]})

    def _send(self, status: int, payload: dict) -> None:
        encoded = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, *args) -> None:
        pass


def test_reward_model_scores_come_from_the_pooling_endpoint():
    _PoolingHandler.seen.clear()
    with serve_on_loopback(_PoolingHandler) as base_url:
        client = RewardModelClient(base_url, "Skywork/Skywork-Reward-Llama-3.1-8B", api_key="sk-test")
        scores = client.score([("a", "Hi", "four"), ("b", "Hi", "bad request"), ("c", "Hi", "sixsix")])
        client.close()
    assert [(score.conversation_id, score.score) for score in scores] == [("a", 4.0), ("b", None), ("c", 6.0)]
    assert "HTTP 400" in scores[1].error
    assert _PoolingHandler.seen[0]["path"] == "/pooling" and _PoolingHandler.seen[0]["auth"] == "Bearer sk-test"
    assert _PoolingHandler.seen[0]["body"]["model"] == "Skywork/Skywork-Reward-Llama-3.1-8B"


def test_unreachable_reward_server_is_an_engine_error_that_says_what_to_do():
    client = RewardModelClient("http://127.0.0.1:9/v1", "rm", max_retries=0, timeout_s=2)
    with pytest.raises(EngineError, match=r"Cannot reach the reward model 'rm'.*vllm serve"):
        client.score([("a", "q", "r")])


@pytest.mark.parametrize(("data", "value"), [([3.5], 3.5), ([[0.0], [1.25]], 1.25), (2, 2.0)])
def test_last_pooled_value(data, value):
    assert last_pooled_value(data) == value


def test_language_detection_is_offline_and_iso_coded():
    texts = ["Plan a trip to Rome.", "¿Cómo puedo aprender a cocinar?", "如何学习编程？", "12 + 7"]
    assert detect_languages(texts) == ["en", "es", "zh", "und"]



def test_candidates_bound_what_the_detector_may_answer():
    spanish = "¿Cómo puedo aprender a cocinar en casa sin gastar mucho dinero?"
    [narrowed] = detect_languages([spanish], ("en", "de"))
    assert narrowed in {"en", "de", "und"}
    [widened] = detect_languages([spanish], ("all",))
    assert widened == "es"
