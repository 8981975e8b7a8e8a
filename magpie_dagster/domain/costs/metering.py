"""The cost ledger's unit: one engine call, what it was asked, what it produced, how long and how much.

`MeteredEngine` wraps the engine an asset uses and reports every call to a recorder, failed calls included (a
call that raised is reported with the error and the time it took, then the error goes on): what a night cost is
what its engines did, retries and resumed attempts too, not what the surviving rows happen to say.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
            reason = redact(f"{type(error).__name__}: {error}")[:ERROR_CHARS]  # engines redact too; a table is forever
            self._record(self._call(kind, len(requests), 0, 0, seconds, reason))
            raise
        seconds = time.monotonic() - started
        prompt = sum(completion.prompt_tokens for completion in completions)
        generated = sum(completion.completion_tokens for completion in completions)
        self._record(self._call(kind, len(requests), prompt, generated, seconds))
        return completions

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
