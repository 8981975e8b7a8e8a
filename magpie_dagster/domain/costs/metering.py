"""The cost ledger's unit: one engine call, what it was asked, what it produced, how long and how much.

`MeteredEngine` wraps the engine an asset uses and reports every call to a recorder, failed calls included (a
call that raised is reported with the error and the time it took, then the error goes on): what a night cost is
what its engines did, retries and resumed attempts too, not what the surviving rows happen to say.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from magpie_dagster.domain.completion import (
    ChatRequest,
    Completion,
    CompletionRequest,
    GenerationEngine,
    ModelChatTemplate,
)
from magpie_dagster.domain.engine_config import Price
from magpie_dagster.domain.redact import redact

ERROR_CHARS = 500


@dataclass(frozen=True)
class EngineCall:
    engine_label: str  # the catalogue entry serving it: a model key, `judge`, `safety`
    engine: str
    engine_model: str
    kind: str  # "complete" or "chat"
    requests: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cost_usd: float
    error: str | None = None


class MeteredEngine(GenerationEngine):
    """Delegates to `engine`; each `complete` / `chat` call is passed to `record` as an `EngineCall`.

    It does not own the engine: closing it is the opener's business, so `close` does nothing.
    """

    def __init__(
        self, engine: GenerationEngine, label: str, price: Price, record: Callable[[EngineCall], None]
    ) -> None:
        super().__init__(engine.model_name)
        self.engine_name = engine.engine_name
        self.supports_json_schema = engine.supports_json_schema
        self._engine = engine
        self._label = label
        self._price = price
        self._record = record

    def complete(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        return self._metered("complete", self._engine.complete, requests)

    def chat(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        return self._metered("chat", self._engine.chat, requests)

    def complete_stream(self, requests: Sequence[CompletionRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        return self._metered_stream("complete", self._engine.complete_stream, requests, chunk)

    def chat_stream(self, requests: Sequence[ChatRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        return self._metered_stream("chat", self._engine.chat_stream, requests, chunk)

    def chat_template(self) -> ModelChatTemplate | None:
        return self._engine.chat_template()

    def close(self) -> None:
        """The engine belongs to whoever opened it."""

    def _metered(self, kind: str, call: Callable, requests: Sequence) -> list[Completion]:
        started = time.monotonic()
        try:
            completions = call(requests)
        except Exception as error:
            seconds = time.monotonic() - started
            self._record(self._call(kind, len(requests), 0, 0, seconds, _reason(error)))
            raise
        seconds = time.monotonic() - started
        prompt = sum(completion.prompt_tokens for completion in completions)
        generated = sum(completion.completion_tokens for completion in completions)
        self._record(self._call(kind, len(requests), prompt, generated, seconds))
        return completions

    def _metered_stream(self, kind: str, stream: Callable, requests: Sequence, chunk: int):
        """A stream is recorded a `chunk` of completions at a time, each with the time since the last record (so the
        seconds add up to the stream's); a failure records what had not finished, with the error."""
        pending: list[Completion] = []
        started = time.monotonic()
        delivered = 0

        def record(count: int, error: str | None = None) -> None:
            nonlocal started
            now = time.monotonic()
            prompt = sum(completion.prompt_tokens for completion in pending)
            generated = sum(completion.completion_tokens for completion in pending)
            self._record(self._call(kind, count, prompt, generated, now - started, error))
            started = now
            pending.clear()

        try:
            for index, completion in stream(requests, chunk):
                pending.append(completion)
                delivered += 1
                if len(pending) >= chunk:
                    record(len(pending))
                yield index, completion
        except Exception as error:
            record(len(requests) - delivered + len(pending), _reason(error))
            raise
        finally:
            if pending:  # the stream ended, or its reader stopped early
                record(len(pending))

    def _call(
        self, kind: str, requests: int, prompt: int, generated: int, seconds: float, error: str | None = None
    ) -> EngineCall:
        return EngineCall(
            engine_label=self._label,
            engine=self.engine_name,
            engine_model=self.model_name,
            kind=kind,
            requests=requests,
            prompt_tokens=prompt,
            completion_tokens=generated,
            seconds=seconds,
            cost_usd=self._price.cost(prompt, generated, seconds),
            error=error,
        )


def _reason(error: Exception) -> str:
    return redact(f"{type(error).__name__}: {error}")[:ERROR_CHARS]  # engines redact too; a table is forever
