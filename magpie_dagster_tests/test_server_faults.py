"""Servers that fail or lie: each fault ends in bounded time as one error naming the entry, the server and what came
back, after retries, and the API key appears nowhere in it. A stdlib fault server on loopback."""

from __future__ import annotations

import time

import pytest

from magpie_dagster.domain.completion import ChatRequest, CompletionRequest, EngineError, SamplingParams
from magpie_dagster.domain.redact import REDACTED, redact
from magpie_dagster.engines.openai_server import OpenAICompletionsEngine
from magpie_dagster.engines.reward_model import RewardModelClient
from magpie_dagster_tests.servers import FAULTS, fault_server

CANARY = "sk-canary-7f3a9c2e11"
EXPECTED = {
    "html": "HTTP 200 but the body is not a completions JSON object, 2 time(s); it began: '<html><body><h1>Sign in",
    "null_text": "HTTP 200 but the choice's text is null, 2 time(s)",
    "no_choices": "HTTP 200 but no choices, 2 time(s)",
    "status_500_html": "HTTP 500: <html><body>502 Bad Gateway from the upstream proxy</body></html>",
    "echo_authorization_400": "HTTP 400: invalid request; headers were Authorization: Bearer [redacted]",
}


def chain(error: BaseException) -> str:
    """Every message and repr down the cause and context chain: what Dagster would serialise."""
    texts = []
    while error is not None:
        texts.append(f"{error} {error!r}")
        error = error.__cause__ or error.__context__
    return " | ".join(texts)


@pytest.mark.parametrize("mode", FAULTS)
def test_a_lying_server_is_one_clear_error_without_the_key(mode):
    with (
        fault_server(mode) as (base_url, requests),
        OpenAICompletionsEngine(
            "m", base_url=base_url, api_key=CANARY, entry_key="served", timeout_s=5, max_retries=1
        ) as engine,
    ):
        started = time.monotonic()
        with pytest.raises(EngineError) as raised:
            engine.complete([CompletionRequest("Hello", SamplingParams(max_tokens=4), seed=1)])
        elapsed = time.monotonic() - started
    message = str(raised.value)
    assert message.startswith(f"Model entry 'served' (server {base_url}): ")
    assert EXPECTED[mode] in message
    assert CANARY not in chain(raised.value)
    assert len(requests) == (1 if mode == "echo_authorization_400" else 2), "retried once, as max_retries says"
    assert elapsed < 15


def test_a_judge_behind_an_html_proxy_fails_the_same_way():
    with (
        fault_server("html") as (base_url, _),
        OpenAICompletionsEngine("m", base_url=base_url, api_key=CANARY, entry_key="judge", max_retries=0) as engine,
        pytest.raises(EngineError, match="HTTP 200 but the body is not a chat completions JSON object"),
    ):
        engine.chat([ChatRequest(({"role": "user", "content": "Rate this."},), SamplingParams(max_tokens=4), 1)])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer sk-abc12345", f"Authorization: Bearer {REDACTED}"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', f'{{"authorization": "Basic {REDACTED}"}}'),
        ("api_key=sk-zz9", f"api_key={REDACTED}"),
        ("{'x-api-key': 'abc'}", f"{{'x-api-key': '{REDACTED}'}}"),
        (f"the key {CANARY} leaked", f"the key {REDACTED} leaked"),
        ("the basic idea, bearer of news", "the basic idea, bearer of news"),
    ],
)
def test_redaction_blanks_credentials_and_leaves_prose(text, expected):
    assert redact(text, [CANARY, None]) == expected


def test_the_reward_client_keeps_an_echoed_key_out_of_the_error_column():
    with fault_server("echo_authorization_400") as (base_url, requests):
        client = RewardModelClient(base_url, "rm", api_key=CANARY, max_retries=0, timeout_s=5)
        try:
            [score] = client.score([("c1", "How do tides work?", "The moon pulls the sea.")])
        finally:
            client.close()
    assert requests == ["/pooling"] and score.score is None
    assert score.error.startswith("HTTP 400: ") and f"Bearer {REDACTED}" in score.error and CANARY not in score.error


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("stall_after_headers", "the answer stalled for timeout_s=2 s after its headers, 1 time(s)"),
        ("trickle", "the answer was still arriving after timeout_s=2 s, 1 time(s)"),
    ],
)
def test_timeout_s_bounds_the_whole_request(mode, expected):
    """The client's own timeout bounds each read: a server sending a byte at a time would never time out."""
    with (
        fault_server(mode) as (base_url, _),
        OpenAICompletionsEngine("m", base_url=base_url, api_key=CANARY, timeout_s=2, max_retries=0) as engine,
    ):
        started = time.monotonic()
        with pytest.raises(EngineError) as raised:
            engine.complete([CompletionRequest("Hello", SamplingParams(max_tokens=4), seed=1)])
        elapsed = time.monotonic() - started
    assert expected in str(raised.value) and "Raise `timeout_s`" in str(raised.value)
    assert elapsed < 8, f"bounded by timeout_s=2, took {elapsed:.1f} s"
