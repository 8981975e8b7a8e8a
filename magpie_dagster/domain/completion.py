"""The one interface every generation engine implements: raw prompts plus sampling in, completions out.

Magpie needs raw completion (the prompt string reaches the model untouched), so the interface takes
strings, never chat messages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    sampling: SamplingParams
    seed: int


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    reasoning: str | None = None  # a server's separate reasoning field (vLLM/SGLang reasoning parsers)


@dataclass(frozen=True)
class ModelChatTemplate:
    """A model's own chat template as it ships (GGUF metadata or tokenizer_config.json)."""

    template: str
    bos_token: str = ""
    eos_token: str = ""
    extra_special_tokens: tuple[str, ...] = field(default=())
    render_options: tuple[tuple[str, object], ...] = ()
    """Extra template variables, as `apply_chat_template(..., **kwargs)` passes them (Qwen3's enable_thinking)."""


@dataclass(frozen=True)
class ChatRequest:
    """A chat-style request, for judges: the engine applies the model's own chat template.

    `json_schema`, when set and the engine supports it, constrains decoding to that schema.
    """

    messages: tuple[dict[str, str], ...]
    sampling: SamplingParams
    seed: int
    json_schema: dict | None = None


class EngineError(RuntimeError):
    """An engine failed in a way the user must fix (unreachable server, missing model, bad options)."""


class GenerationEngine(ABC):
    """Completes raw prompts. Implementations: llama.cpp (embedded), vLLM, OpenAI-compatible server, fake."""

    engine_name: ClassVar[str]
    # Whether `chat` can constrain decoding to a JSON schema (llama.cpp grammar, vLLM guided decoding, OpenAI
    # response_format); judges parse leniently either way.
    supports_json_schema: ClassVar[bool] = False

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    @abstractmethod
    def complete(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        """One completion per request, in request order."""

    def chat(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Chat completions (judging needs no raw completion); one per request, in order."""
        raise EngineError(f"The {self.engine_name} engine cannot serve chat requests, so it cannot judge.")

    def complete_stream(self, requests: Sequence[CompletionRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        """(position in `requests`, completion) as each finishes, so a caller stores finished rows while the rest
        decode. An engine that keeps its slots full across the whole stream overrides this; the default completes
        `chunk` requests per call."""
        yield from _chunked(self.complete, requests, chunk)

    def chat_stream(self, requests: Sequence[ChatRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        """`complete_stream` for chat requests."""
        yield from _chunked(self.chat, requests, chunk)

    def chat_template(self) -> ModelChatTemplate | None:
        """The model's own chat template, when the engine can read it (for `template: auto`)."""
        return None

    def close(self) -> None:  # noqa: B027 (an optional hook: the fake engine holds nothing)
        """Release the model or client."""

    def __enter__(self) -> GenerationEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _chunked(call, requests: Sequence, chunk: int) -> Iterator[tuple[int, Completion]]:
    for start in range(0, len(requests), max(chunk, 1)):
        for offset, completion in enumerate(call(requests[start : start + chunk])):
            yield start + offset, completion
