"""The OpenAI-compatible engine against a real llama.cpp server on loopback: real HTTP, real errors.

Measured facts of llama-cpp-python's server these tests pin: it serves its only model whatever model id a
request names; it returns `usage`; a seed makes a temperature-1 sample repeatable; it applies its own
repeat_penalty (1.1) when a request sends none.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from magpie_dagster.domain.completion import CompletionRequest, EngineError, SamplingParams
from magpie_dagster.engines.openai_server import OpenAICompletionsEngine
from magpie_dagster_tests.servers import SERVED_MODEL_ID, free_loopback_port, llama_cpp_server

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
    [completion] = engine.complete([CompletionRequest(SMOLLM2_PRE_QUERY, INSTRUCTION_SAMPLING, seed=3)])
    assert completion.text.strip()
    assert not any(stop in completion.text for stop in CHATML_STOPS)
    assert completion.prompt_tokens > 10 and completion.completion_tokens > 0
    assert completion.finish_reason in {"stop", "length"}


def test_small_max_tokens_is_cut_off(engine):
    [completion] = engine.complete([greedy(LONG_ANSWER_PROMPT, max_tokens=3)])
    assert completion.finish_reason == "length" and completion.completion_tokens == 3


def test_parallel_requests_come_back_in_request_order(engine):
    # " the" is one SmolLM2 token and no BOS is added, so each prompt's length is its token count.
    lengths = [7, 2, 11, 5, 3, 13, 1, 9]
    completions = engine.complete([greedy(" the" * length) for length in lengths])
    assert [completion.prompt_tokens for completion in completions] == lengths


def test_seeds_decide_the_sample(engine):
    texts = [
        completion.text
        for completion in engine.complete(
            [CompletionRequest(SMOLLM2_PRE_QUERY, INSTRUCTION_SAMPLING, seed) for seed in (1, 2, 1)]
        )
    ]
    assert texts[0] != texts[1], "different seeds at temperature 1 give different instructions"
    assert texts[0] == texts[2], "the same seed repeats its sample"


def test_repetition_penalty_reaches_the_server(engine):
    plain, penalised = engine.complete(
        [greedy(LONG_ANSWER_PROMPT, 60), greedy(LONG_ANSWER_PROMPT, 60, repetition_penalty=1.8)]
    )
    assert plain.text != penalised.text


def test_extra_body_overrides_the_server_defaults(engine, llama_cpp_server):
    """Sending nothing leaves llama.cpp at repeat_penalty 1.1; only an explicit 1.0 gives the plain model."""
    with OpenAICompletionsEngine(
        SERVED_MODEL_ID,
        base_url=llama_cpp_server,
        extra_body={"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0},
    ) as faithful:
        [unpenalised] = faithful.complete([greedy(LONG_ANSWER_PROMPT, 60)])
    [server_default] = engine.complete([greedy(LONG_ANSWER_PROMPT, 60)])
    assert unpenalised.text != server_default.text


def test_unknown_model_id_is_served_by_the_only_model(llama_cpp_server):
    """llama.cpp's server falls back to its default model instead of answering 404 (vLLM answers 404)."""
    with OpenAICompletionsEngine("no-such-model", base_url=llama_cpp_server, entry_key="typo") as engine:
        [completion] = engine.complete([greedy("Hello there", max_tokens=4)])
    assert completion.completion_tokens == 4


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
    chain = [raised.value, raised.value.__cause__, raised.value.__cause__.__cause__]
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
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VllmUnknownModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        with (
            OpenAICompletionsEngine("Qwen2.5-7B", base_url=base_url, entry_key="qwen") as engine,
            pytest.raises(EngineError) as raised,
        ):
            engine.complete([greedy("Hello")])
    finally:
        server.shutdown()
        server.server_close()
    message = str(raised.value)
    assert "HTTP 404" in message and "'Qwen2.5-7B'" in message and "Qwen/Qwen2.5-7B-Instruct" in message
