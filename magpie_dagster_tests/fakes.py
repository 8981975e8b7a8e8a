"""Test seams: an engine resource that hands out the deterministic fake engine instead of a model."""

from __future__ import annotations

from collections.abc import Callable

from magpie_dagster.defs.resources import EngineResource
from magpie_dagster.domain.completion import ChatRequest, CompletionRequest, EngineError, GenerationEngine
from magpie_dagster.domain.engine_config import Connection
from magpie_dagster.engines.fake import FakeEngine, default_fake_judgement, default_fake_text


def _echo_every_third(request: CompletionRequest) -> str:
    """Every third sample echoes the template (a real failure mode of small models)."""
    if request.seed % 3 == 0 and not request.prompt.rstrip().endswith("assistant"):
        return "assistant\nSure, here you go<|im_end|>"
    return default_fake_text(request)


def _unreachable(label: str) -> GenerationEngine:
    raise EngineError(f"Cannot reach the OpenAI-compatible server for model {label!r} at http://127.0.0.1:9/v1")


SCRIPTS: dict[str, Callable[[CompletionRequest], str]] = {
    "default": default_fake_text,
    "echo_every_third": _echo_every_third,
}


def _garbage_for_odd_seeds(request: ChatRequest) -> str:
    """Half the judge's first answers are prose; retries (new seeds) may recover."""
    return "I would say it is fine." if request.seed % 2 else default_fake_judgement(request)


def _always_garbage(request: ChatRequest) -> str:
    return "Sorry, I cannot rate that."


JUDGE_SCRIPTS: dict[str, Callable[[ChatRequest], str]] = {
    "valid": default_fake_judgement,
    "garbage_for_odd_seeds": _garbage_for_odd_seeds,
    "always_garbage": _always_garbage,
}


class FakeEngineResource(EngineResource):
    """`script` picks how the fake answers; `unreachable` makes opening the engine fail like a dead server."""

    script: str = "default"
    judge_script: str = "valid"
    unreachable: bool = False

    def _open(self, label: str, connection: Connection) -> GenerationEngine:
        if self.unreachable:
            return _unreachable(label)
        return FakeEngine(
            model_name=f"fake-{label}", text_for=SCRIPTS[self.script], answer_for=JUDGE_SCRIPTS[self.judge_script]
        )
