"""The OpenAI-compatible engine against a real llama.cpp server on loopback: real HTTP, real errors.

Facts of llama-cpp-python's server these tests pin: it serves its only model whatever model id a request
names; it returns `usage`. Its samples are not tested for repeating by seed: it reuses the previous request's
KV cache, and how much it reuses changes the arithmetic on some CPUs (see "Reproducible samples" in docs/scaling.md).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from magpie_dagster.domain.completion import ChatRequest, CompletionRequest, EngineError, SamplingParams
from magpie_dagster.domain.generation.reasoning import SplitAnswer, split_reasoning
from magpie_dagster.engines.openai_server import OpenAICompletionsEngine
from magpie_dagster_tests.nights import seed_offset
from magpie_dagster_tests.servers import (
    SERVED_MODEL_ID,
    free_loopback_port,
    llama_cpp_server,
    recording_completions_server,
    serve_on_loopback,
)

SMOLLM2_PRE_QUERY = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\n"
)
CHATML_STOPS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
INSTRUCTION_SAMPLING = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=64, stop=CHATML_STOPS)
# An assistant turn SmolLM2 answers at length (greedy: 60+ tokens), so a small max_tokens must cut it off.
LONG_ANSWER_PROMPT = (
    "<|im_start|>user\nList the days of the week, again and again.<|im_end|>\n<|im_start|>assistant\n"
)
SECRET = "sk-test-SECRET"
END_TOKEN_IDS = (0, 1, 2)  # SmolLM2's <|endoftext|>, <|im_start|>, <|im_end|>

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(llama_cpp_server: str) -> Iterator[OpenAICompletionsEngine]:
    with OpenAICompletionsEngine(
        SERVED_MODEL_ID, base_url=llama_cpp_server, entry_key="local-smollm2", max_concurrency=4
    ) as opened:
        yield opened


def unreachable_engine(api_key: str | None = None) -> OpenAICompletionsEngine:
    """A loopback port nothing listens on: connection refused at once, no retries to wait for."""
    base_url = f"http://127.0.0.1:{free_loopback_port()}/v1"
    return OpenAICompletionsEngine(
        SERVED_MODEL_ID,
        base_url=base_url,
        api_key=api_key,
        entry_key="remote-qwen",
        timeout_s=2,
        max_retries=0,
    )


def greedy(prompt: str, max_tokens: int = 2, repetition_penalty: float = 1.0) -> CompletionRequest:
    sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens, repetition_penalty=repetition_penalty)
    return CompletionRequest(prompt, sampling, seed=0)


def test_instruction_from_the_pre_query_template(engine):
    [completion] = engine.complete(
        [CompletionRequest(SMOLLM2_PRE_QUERY, INSTRUCTION_SAMPLING, seed=seed_offset() + 3)]
    )
    assert not any(stop in completion.text for stop in CHATML_STOPS)
    assert completion.prompt_tokens > 10 and 0 <= completion.completion_tokens <= INSTRUCTION_SAMPLING.max_tokens
    assert completion.finish_reason in {"stop", "length"}


def test_small_max_tokens_is_cut_off(llama_cpp_server):
    """The end-of-turn tokens are banned (logit_bias), so any sample of any CPU runs into max_tokens."""
    no_end = {"logit_bias": {str(token): -100 for token in END_TOKEN_IDS}}
    with OpenAICompletionsEngine(SERVED_MODEL_ID, base_url=llama_cpp_server, extra_body=no_end) as engine:
        [completion] = engine.complete([greedy(LONG_ANSWER_PROMPT, max_tokens=3)])
    assert completion.finish_reason == "length" and completion.completion_tokens == 3


def test_parallel_requests_come_back_in_request_order(engine):
    # " the" is one SmolLM2 token and no BOS is added, so each prompt's length is its token count.
    lengths = [7, 2, 11, 5, 3, 13, 1, 9]
    completions = engine.complete([greedy(" the" * length) for length in lengths])
    assert [completion.prompt_tokens for completion in completions] == lengths


def test_each_request_carries_its_own_seed_and_sampling():
    """What the engine owes every server: each request's seed and sampling, the penalty under both names, and
    `extra_body` merged in. (Whether a server then repeats a sample from its seed is the server's property: see
    "Reproducible samples" in docs/scaling.md.)"""
    sampling = SamplingParams(temperature=0.9, top_p=0.95, max_tokens=48, repetition_penalty=1.3, stop=CHATML_STOPS)
    with (
        recording_completions_server() as (base_url, bodies),
        OpenAICompletionsEngine(
            SERVED_MODEL_ID, base_url=base_url, extra_body={"top_k": 0, "min_p": 0.0}, max_concurrency=3
        ) as engine,
    ):
        completions = engine.complete([CompletionRequest(SMOLLM2_PRE_QUERY, sampling, seed) for seed in (1, 2, 1)])
    assert [completion.text for completion in completions] == [f"sample for seed {seed}" for seed in (1, 2, 1)]
    assert sorted(body["seed"] for body in bodies) == [1, 1, 2]
    for body in bodies:
        assert body["prompt"] == SMOLLM2_PRE_QUERY and body["model"] == SERVED_MODEL_ID
        assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.9, 0.95, 48)
        assert body["stop"] == list(CHATML_STOPS)
        assert body["repetition_penalty"] == body["repeat_penalty"] == 1.3
        assert (body["top_k"], body["min_p"]) == (0, 0.0)


def test_unknown_model_id_is_served_by_the_only_model(llama_cpp_server):
    """llama.cpp's server falls back to its default model instead of answering 404 (vLLM answers 404)."""
    with OpenAICompletionsEngine("no-such-model", base_url=llama_cpp_server, entry_key="typo") as engine:
        [completion] = engine.complete([greedy("Hello there", max_tokens=4)])
    assert completion.prompt_tokens == 2 and completion.completion_tokens <= 4


def test_prompt_over_the_context_window_names_status_and_server_message(engine):
    with pytest.raises(EngineError) as raised:
        engine.complete([greedy(" the" * 3000)])
    message = str(raised.value)
    assert "'local-smollm2'" in message and "HTTP 400" in message and "maximum context length" in message


def test_unreachable_server_names_entry_url_and_fix():
    with unreachable_engine() as engine, pytest.raises(EngineError) as raised:
        engine.complete([greedy("Hello")])
    message = str(raised.value)
    assert "'remote-qwen'" in message and engine.base_url in message
    assert "Start the server" in message and "`base_url`" in message


def test_server_that_never_answers_times_out():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never accepts, never replies
        base_url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        with (
            OpenAICompletionsEngine(
                SERVED_MODEL_ID, base_url=base_url, entry_key="slow", timeout_s=0.5, max_retries=0
            ) as engine,
            pytest.raises(EngineError, match="timed out") as raised,
        ):
            engine.complete([greedy("Hello")])
    assert "'slow'" in str(raised.value) and base_url in str(raised.value)


def test_api_key_never_appears_in_errors():
    with unreachable_engine(api_key=SECRET) as engine, pytest.raises(EngineError) as raised:
        engine.complete([greedy("Hello")])
    error, chain = raised.value, []
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert not any("SECRET" in f"{error} {error!r}" for error in chain)


def test_wrong_api_key_says_which_env_var():
    with (
        llama_cpp_server(api_key="the-right-key", n_ctx=256) as base_url,
        OpenAICompletionsEngine(
            SERVED_MODEL_ID, base_url=base_url, api_key=SECRET, entry_key="guarded", api_key_env="GUARDED_KEY"
        ) as engine,
        pytest.raises(EngineError) as raised,
    ):
        engine.complete([greedy("Hello")])
    message = str(raised.value)
    assert "HTTP 401" in message and "GUARDED_KEY" in message and "SECRET" not in message


class _VllmUnknownModel(BaseHTTPRequestHandler):
    """Answers the way `vllm serve` does for a model id it does not serve (llama.cpp cannot: see above)."""

    def do_GET(self) -> None:
        self._reply(200, {"object": "list", "data": [{"id": "Qwen/Qwen2.5-7B-Instruct", "object": "model"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        model = "Qwen2.5-7B"
        message = f"The model `{model}` does not exist."
        self._reply(404, {"object": "error", "message": message, "type": "NotFoundError", "code": 404})

    def _reply(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        """Silent: the test reads the engine's error, not the access log."""


def test_404_lists_the_served_models():
    with (
        serve_on_loopback(_VllmUnknownModel) as base_url,
        OpenAICompletionsEngine("Qwen2.5-7B", base_url=base_url, entry_key="qwen") as engine,
        pytest.raises(EngineError) as raised,
    ):
        engine.complete([greedy("Hello")])
    message = str(raised.value)
    assert "HTTP 404" in message and "'Qwen2.5-7B'" in message and "Qwen/Qwen2.5-7B-Instruct" in message


class _ReasoningServer(_VllmUnknownModel):
    """Answers like `vllm serve --reasoning-parser ...`: the thinking in its own field, the answer in the text."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
        if self.path.endswith("/chat/completions"):
            message = {"role": "assistant", "content": "4", "reasoning_content": "2+2 is 4."}
            choice, kind = {"index": 0, "message": message, "finish_reason": "stop"}, "chat.completion"
        else:
            choice = {"index": 0, "text": " 4", "reasoning_content": "2+2 is 4.", "finish_reason": "stop"}
            kind = "text_completion"
        self._reply(
            200, {"id": "x", "object": kind, "created": 0, "model": body["model"], "choices": [choice], "usage": usage}
        )


def test_a_servers_separate_reasoning_field_reaches_the_completion():
    with (
        serve_on_loopback(_ReasoningServer) as base_url,
        OpenAICompletionsEngine("Qwen/QwQ-32B", base_url=base_url, entry_key="qwq") as engine,
    ):
        [completion] = engine.complete([greedy("What is 2+2?")])
        [answer] = engine.chat(
            [ChatRequest(({"role": "user", "content": "What is 2+2?"},), greedy("x").sampling, seed=1)]
        )
    assert (completion.text, completion.reasoning) == (" 4", "2+2 is 4.")
    assert (answer.text, answer.reasoning) == ("4", "2+2 is 4.")
    split = split_reasoning(completion.text, server_reasoning=completion.reasoning)
    assert split == SplitAnswer("4", "2+2 is 4.", True)
