"""Raw completions from any OpenAI-compatible server (`vllm serve`, llama.cpp's server, SGLang).

Magpie needs the `/v1/completions` endpoint: the pre-query template must reach the model untouched, which a
chat endpoint would wrap in its own template. llama.cpp's server takes one prompt per request (a list gives
HTTP 500), so every request is its own call and parallelism comes from a bounded thread pool. An entry may
list several servers of the same model (`base_url: [...]`): requests are spread over them (`engines/replicas.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence

import openai

from magpie_dagster.domain.completion import (
    ChatRequest,
    Completion,
    CompletionRequest,
    EngineError,
    GenerationEngine,
)
from magpie_dagster.domain.redact import redact
from magpie_dagster.engines.daemon_pool import DaemonThreadPool
from magpie_dagster.engines.openai_answers import (
    Malformed,
    Unfinished,
    parse_chat,
    parse_completion,
    preview,
    server_message,
)
from magpie_dagster.engines.replicas import NoReplicaLeft, Replica, ReplicaFault, ReplicaSet, is_replica_fault

# Local servers ignore the key, but the client refuses to start without one (and would otherwise read
# OPENAI_API_KEY from the environment, which may belong to another service).
_NO_KEY = "no-key-needed"
_MODEL_LIST_TIMEOUT_S = 10.0


class OpenAICompletionsEngine(GenerationEngine):
    engine_name = "openai"

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str | Sequence[str],
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        entry_key: str = "",
        api_key_env: str | None = None,
        extra_body: Mapping[str, object] | None = None,
        structured_output: str = "json_schema",
    ) -> None:
        """`api_key` is resolved by the caller; `api_key_env` only names it in error messages. `base_url` may
        list replicas of the same served model; `max_concurrency` is per replica.

        `extra_body` holds server-specific fields sent with every request. llama.cpp's server applies its own
        defaults to whatever a request leaves out (repeat_penalty 1.1, top_k 40, min_p 0.05), so a faithful
        Magpie sample there needs `{"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0}`.
        """
        super().__init__(model_name)
        # How a judge's JSON schema is sent: OpenAI and vLLM take `json_schema`; llama.cpp's server only
        # `json_object` with a `schema`; "none" leaves answers unconstrained (parsed leniently).
        self.structured_output = structured_output
        self.supports_json_schema = structured_output != "none"
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.base_urls = (base_url,) if isinstance(base_url, str) else tuple(base_url)
        self.base_url = self.base_urls[0]
        self.entry_key = entry_key or model_name
        self.api_key_env = api_key_env
        self.extra_body = dict(extra_body or {})
        self._secrets = (api_key,)
        self._max_retries = max_retries
        self._timeout_s = timeout_s
        # The client's own retry-with-backoff covers connection errors, 408, 409, 429 and 5xx; answers that are
        # not the expected JSON (a proxy's HTML page, null text, no choices) are retried here. With replicas a
        # failing server is left after one retry: the request moves to another replica instead.
        client_retries = max_retries if len(self.base_urls) == 1 else min(max_retries, 1)
        self._replicas = ReplicaSet(
            [
                Replica(url, openai.OpenAI(base_url=url, api_key=api_key or _NO_KEY, timeout=timeout_s,
                                           max_retries=client_retries))
                for url in self.base_urls
            ],
            per_replica=max_concurrency,
        )  # fmt: skip
        self._pool = DaemonThreadPool(max_concurrency * len(self.base_urls), f"openai-{self.entry_key}")

    def complete(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        return self._pool.map_all(self._complete_one, requests)

    def complete_stream(self, requests: Sequence[CompletionRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        """Every request of the stream in flight on the pool, `max_concurrency` per replica at a time."""
        return self._pool.map_as_completed(self._complete_one, requests)

    def _complete_one(self, request: CompletionRequest) -> Completion:
        sampling = request.sampling
        return self._until_well_formed(
            lambda client: self._within_deadline(
                client.completions.with_streaming_response.create,
                model=self.model_name,
                prompt=request.prompt,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                stop=list(sampling.stop) or None,
                seed=request.seed,
                extra_body={**self.extra_body, **_penalty_fields(sampling.repetition_penalty)} or None,
            ),
            parse_completion,
        )

    def _within_deadline(self, create, **arguments) -> dict | str:
        """One request bounded from connect to last byte by `timeout_s`: the client's own timeout bounds each
        read, so a server that trickles a byte at a time would never time out. The body is read in chunks, the
        deadline checked between them; what is not the expected JSON comes back as text for the caller to judge."""
        deadline = time.monotonic() + self._timeout_s
        with create(**arguments) as response:
            chunks = []
            try:
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        return Unfinished(f"the answer was still arriving after timeout_s={self._timeout_s:g} s")
            except Exception as error:  # noqa: BLE001 the transport's own errors (httpx or httpx2, by openai version)
                if "Timeout" in type(error).__name__:
                    return Unfinished(f"the answer stalled for timeout_s={self._timeout_s:g} s after its headers")
                return Unfinished(f"the answer broke off ({type(error).__name__})")
        body = b"".join(chunks).decode("utf-8", errors="replace")
        try:
            data = json.loads(body)
        except ValueError:
            return body
        return data if isinstance(data, dict) else body

    def _until_well_formed(self, call, parse) -> Completion:
        """Calls the server; an answer that is not the expected JSON is retried with backoff, then explained."""
        for attempt in range(self._max_retries + 1):
            response, url = self._on_a_replica(call)
            try:
                return parse(response)
            except Malformed as malformed:
                problem = str(malformed)
            if attempt < self._max_retries:
                time.sleep(min(0.5 * 2**attempt, 8.0))
        tries = f"{self._max_retries + 1} time(s)"
        if isinstance(response, Unfinished):
            detail = (
                f"{problem}, {tries}. Raise `timeout_s` for this entry if the server is only slow; otherwise check "
                "the server and any proxy in between."
            )
        else:
            detail = (
                f"HTTP 200 but {problem}, {tries}; it began: {preview(response)!r}. Is `base_url` the model "
                "server's (not a proxy's or a login page's), and does the server speak the OpenAI API?"
            )
        raise EngineError(redact(f"Model entry '{self.entry_key}' (server {url}): {detail}", self._secrets))

    def _on_a_replica(self, call) -> tuple[dict | str, str]:
        """`call(client)` on the least busy healthy replica, and which one answered. A replica that cannot answer
        (no connection, a timeout, 429 or 5xx after the client's retry) is taken out for a while and the call
        moves on; when none is left the step fails naming each replica and what it said."""
        try:
            return self._replicas.call(lambda replica: self._attempt(call, replica))
        except NoReplicaLeft as none_left:
            faults = str(none_left)
        raise EngineError(
            redact(
                f"Model entry '{self.entry_key}': none of its {len(self.base_urls)} replicas could answer "
                f"({faults}). Start the servers or fix `base_url` in the model catalogue.",
                self._secrets,
            )
        )

    def chat(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Chat completions for judges; hosted chat APIs work here too, since judging needs no raw prompt."""
        return self._pool.map_all(self._chat_one, requests)

    def chat_stream(self, requests: Sequence[ChatRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        return self._pool.map_as_completed(self._chat_one, requests)

    def _chat_one(self, request: ChatRequest) -> Completion:
        sampling = request.sampling
        return self._until_well_formed(
            lambda client: self._within_deadline(
                client.chat.completions.with_streaming_response.create,
                model=self.model_name,
                messages=list(request.messages),
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                seed=request.seed,
                response_format=self._response_format(request.json_schema),
                extra_body=self.extra_body or None,
            ),
            parse_chat,
        )

    def _response_format(self, schema: dict | None) -> dict | openai.NotGiven:
        if schema is None or not self.supports_json_schema:
            return openai.NOT_GIVEN
        if self.structured_output == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "judgement", "schema": schema, "strict": True}}

    def _attempt(self, call, replica: Replica) -> tuple[dict | str, str]:
        try:
            return call(replica.client), replica.url
        except openai.APIError as error:
            failure = error
        # Raised outside the handler: the SDK error (which may echo the key) is not chained.
        if len(self.base_urls) > 1 and is_replica_fault(failure):
            raise ReplicaFault(_fault_reason(failure))
        raise self._explain(failure, replica)

    def _explain(self, error: openai.APIError, replica: Replica) -> EngineError:
        """Turns an SDK error into what the user must do, with secrets removed (a server may echo the request)."""
        return EngineError(redact(self._explanation(error, replica), self._secrets))

    def _explanation(self, error: openai.APIError, replica: Replica) -> str:
        where = f"Model entry '{self.entry_key}' (server {replica.url})"
        if isinstance(error, openai.APIConnectionError):
            cause = f": {error.__cause__}" if error.__cause__ and str(error.__cause__) else ""
            return (
                f"{where}: the server did not answer ({error.message.rstrip('.')}{cause}). Start the server, "
                "or fix `base_url` for this entry in the model catalogue."
            )
        if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
            fix = (
                f"check the environment variable {self.api_key_env} (this entry's `api_key_env`)"
                if self.api_key_env
                else "set `api_key_env` for this entry in the model catalogue and export that variable"
            )
            return f"{where}: HTTP {error.status_code}, the API key is missing or wrong: {fix}."
        if isinstance(error, openai.NotFoundError):
            return f"{where}: HTTP 404 for model '{self.model_name}'. {self._served_models_hint(replica.client)}"
        if isinstance(error, openai.APIStatusError):
            return f"{where}: HTTP {error.status_code}: {server_message(error)}"
        return f"{where}: {error.message}"

    def _served_models_hint(self, client: openai.OpenAI) -> str:
        try:
            served = [model.id for model in client.models.list(timeout=_MODEL_LIST_TIMEOUT_S)]
        except openai.APIError as error:
            return (
                "The served model id may differ from `model` in the catalogue, or `base_url` may lack its "
                f"`/v1` suffix; listing the server's models failed too ({error.message})."
            )
        if self.model_name in served:
            return "The server does serve that model, so the path is wrong: does `base_url` end in `/v1`?"
        return (
            f"The server serves {', '.join(served) or 'no models'}: set `model` for this entry in the model "
            "catalogue to the served model id."
        )

    def close(self) -> None:
        """Does not wait for requests in flight: after an interrupt (SIGTERM, the UI's Terminate) they are
        abandoned, and their threads end with the step's process; otherwise none is left."""
        self._pool.shutdown()
        self._replicas.close()


def _fault_reason(error: openai.APIError) -> str:
    """Why a replica could not answer, in a few words, for the error that lists every replica."""
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}: {server_message(error)}"
    cause = f": {error.__cause__}" if error.__cause__ and str(error.__cause__) else ""
    return f"did not answer ({error.message.rstrip('.')}{cause})"


def _penalty_fields(repetition_penalty: float) -> dict[str, float]:
    """vLLM and SGLang read `repetition_penalty`, llama.cpp's server `repeat_penalty`; each ignores the other.

    Left out at 1.0 so a strict server (OpenAI's own) does not reject the unknown fields.
    """
    if repetition_penalty == 1.0:
        return {}
    return {"repetition_penalty": repetition_penalty, "repeat_penalty": repetition_penalty}
