"""An `openai` entry with several servers of one model: requests are spread over them within each one's limit, a
replica that fails is taken out and its requests go to the others, and when all fail the error names each."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from magpie_dagster.domain.completion import CompletionRequest, EngineError, SamplingParams
from magpie_dagster.engines.openai_server import OpenAICompletionsEngine
from magpie_dagster.engines.reward_model import RewardModelClient
from magpie_dagster_tests.servers import (
    SERVED_MODEL_ID,
    free_loopback_port,
    llama_cpp_server_process,
    send_completion,
    serve_on_loopback,
)


class _Busy(BaseHTTPRequestHandler):
    """A completions server that takes 50 ms per request and records how many it held at once."""

    name: str
    state: dict

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.state["lock"]:
            self.state["now"] += 1
            self.state["most"] = max(self.state["most"], self.state["now"])
        time.sleep(0.05)
        with self.state["lock"]:
            self.state["now"] -= 1
            self.state["served"] += 1
        send_completion(self, f"from {self.name}")

    def log_message(self, *args: object) -> None:
        """Silent."""


def busy_server(name: str):
    state = {"lock": threading.Lock(), "now": 0, "most": 0, "served": 0}
    return serve_on_loopback(type(f"Busy{name}", (_Busy,), {"name": name, "state": state})), state


def requests(count: int, max_tokens: int = 8) -> list[CompletionRequest]:
    sampling = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=max_tokens)
    return [CompletionRequest(prompt=f"Question {i}:", sampling=sampling, seed=i) for i in range(count)]


def engine(urls: list[str], max_concurrency: int = 2, max_retries: int = 1) -> OpenAICompletionsEngine:
    return OpenAICompletionsEngine(
        "m", base_url=urls, max_concurrency=max_concurrency, timeout_s=30, max_retries=max_retries, entry_key="pool"
    )


def test_requests_are_spread_over_the_replicas_within_each_ones_limit():
    (first, first_state), (second, second_state) = busy_server("a"), busy_server("b")
    with first as url_a, second as url_b:
        pool = engine([url_a, url_b], max_concurrency=3)
        completions = pool.complete(requests(40))
        pool.close()
    texts = [completion.text for completion in completions]
    assert len(texts) == 40 and set(texts) == {"from a", "from b"}
    assert first_state["served"] + second_state["served"] == 40
    assert min(first_state["served"], second_state["served"]) >= 10, "least busy first: both carry load"
    assert first_state["most"] <= 3 and second_state["most"] <= 3, "max_concurrency is per replica"
    assert max(first_state["most"], second_state["most"]) >= 2, "requests run concurrently"


def test_a_replica_that_cannot_answer_is_taken_out_and_the_others_answer_for_it():
    dead = f"http://127.0.0.1:{free_loopback_port()}/v1"  # nothing listens there
    (live, state) = busy_server("live")
    with live as url:
        pool = engine([dead, url])
        started = time.monotonic()
        completions = pool.complete(requests(12))
        elapsed = time.monotonic() - started
        served = {replica.url: replica.served for replica in pool._replicas.replicas}
        pool.close()
    assert [completion.text for completion in completions] == ["from live"] * 12
    assert served == {dead: 0, url: 12} and state["served"] == 12
    assert elapsed < 10, "taken out after its first failures, not retried for every request"


def test_when_every_replica_fails_the_error_names_each_and_why():
    port = free_loopback_port()  # nothing listens there; two paths make two replicas
    dead = [f"http://127.0.0.1:{port}/a/v1", f"http://127.0.0.1:{port}/b/v1"]
    pool = engine(dead, max_retries=0)
    with pytest.raises(EngineError) as raised:
        pool.complete(requests(3))
    pool.close()
    message = str(raised.value)
    assert "Model entry 'pool': none of its 2 replicas could answer" in message
    assert all(f"{url}: did not answer (Connection error" in message for url in dead), message
    assert "Start the servers or fix `base_url` in the model catalogue" in message


@pytest.mark.slow
def test_two_real_llama_cpp_servers_one_killed_mid_run_every_request_answered():
    with llama_cpp_server_process() as (url_a, process_a), llama_cpp_server_process() as (url_b, _):
        pool = OpenAICompletionsEngine(
            SERVED_MODEL_ID, base_url=[url_a, url_b], max_concurrency=1, timeout_s=60, max_retries=1,
            entry_key="pool", extra_body={"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0},
        )  # fmt: skip
        replica_a = next(replica for replica in pool._replicas.replicas if replica.url == url_a)
        results: list = []
        runner = threading.Thread(target=lambda: results.append(pool.complete(requests(16, max_tokens=12))))
        runner.start()
        deadline = time.monotonic() + 120
        while replica_a.served < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        process_a.kill()  # mid-run: it holds a request in flight
        runner.join(timeout=300)
        served = {replica.url: replica.served for replica in pool._replicas.replicas}
        pool.close()
    [completions] = results
    assert len(completions) == 16
    assert all(completion.finish_reason in ("stop", "length") for completion in completions)
    assert served[url_a] >= 2 and served[url_a] + served[url_b] == 16, served


def test_a_reward_model_on_replicas_fails_over_and_names_every_replica_when_all_are_down():
    from magpie_dagster_tests.test_safety_reward import _PoolingHandler

    dead = f"http://127.0.0.1:{free_loopback_port()}/v1"
    items = [(f"c{i}", "Hi", "x" * (i + 1)) for i in range(10)]
    with serve_on_loopback(_PoolingHandler) as live:
        client = RewardModelClient([dead, live], "rm", max_retries=0, timeout_s=5)
        scores = client.score(items)
        served = {replica.url.removesuffix("/pooling"): replica.served for replica in client._replicas.replicas}
        client.close()
    assert [score.score for score in scores] == [float(i + 1) for i in range(10)]
    assert served == {dead.removesuffix("/v1"): 0, live.removesuffix("/v1"): 10}
    down = RewardModelClient([dead, dead.replace("/v1", "/other/v1")], "rm", max_retries=0, timeout_s=2)
    with pytest.raises(EngineError) as raised:
        down.score(items[:2])
    down.close()
    assert "None of the 2 replicas of the reward model 'rm' could answer" in str(raised.value)
    assert f"Cannot reach the reward model 'rm' at {dead.removesuffix('/v1')}/pooling" in str(raised.value)


def test_a_reward_model_on_replicas_scores_tags_and_pairs_through_the_assets_opened_once_per_run(
    tmp_path, monkeypatch
):
    from magpie_dagster.defs import resources
    from magpie_dagster_tests.backends import file_backend
    from magpie_dagster_tests.projects import Project
    from magpie_dagster_tests.test_nightly_chain import CATALOGUE, NIGHT, run_night
    from magpie_dagster_tests.test_safety_reward import _PoolingHandler

    opened = []

    class CountedClient(RewardModelClient):
        def __init__(self, *arguments, **options):
            opened.append(arguments[0])
            super().__init__(*arguments, **options)

    monkeypatch.setattr(resources, "RewardModelClient", CountedClient)
    dead = f"http://127.0.0.1:{free_loopback_port()}/v1"
    with serve_on_loopback(_PoolingHandler) as live:
        catalogue = tmp_path / "catalogue.yaml"
        reward = f"reward: {{kind: reward_model, model: rm, base_url: [{dead}, {live}]}}"
        catalogue.write_text(CATALOGUE.replace("reward: {kind: judge_score}", reward))
        backend = file_backend(tmp_path)
        assert all(result.success for result in run_night(Project(catalogue, backend, NIGHT)))
    assert opened == [(dead, live)] * 3, "once per run: alpha's and beta's partitions, then the night"
    with backend.warehouse().connect(read_only=True) as connection:
        rewards = connection.execute(
            "SELECT count(*), count(*) FILTER (status = 'ok'), min(judge_model) FROM judgements WHERE tag = 'reward'"
        ).fetchone()
        usable = connection.execute("SELECT count(*) FROM instructions WHERE drop_reason IS NULL").fetchone()[0]
        pairs = connection.execute("SELECT count(*), min(reward_model) FROM preference_pairs").fetchone()
    assert rewards == (usable, usable, "rm")
    assert pairs[0] > 0 and pairs[1] == "rm"
