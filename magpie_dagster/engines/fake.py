"""A deterministic engine for fast tests: same prompt and seed, same text, no model."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence

from magpie_dagster.domain.completion import ChatRequest, Completion, CompletionRequest, GenerationEngine

_TOPICS = ("prime numbers", "tide pools", "binary search", "sourdough", "the French revolution", "tax brackets")


def default_fake_text(request: CompletionRequest) -> str:
    """A plausible question for instruction prompts, an answer for everything else."""
    digest = hashlib.sha256(f"{request.prompt}|{request.seed}".encode()).hexdigest()
    topic = _TOPICS[int(digest[:4], 16) % len(_TOPICS)]
    if request.prompt.rstrip().endswith(("user", "user<|end_header_id|>", "<|user|>", "[INST]", "<｜User｜>")):
        return f"How do {topic} work, in simple terms? ({digest[:8]})"
    return f"Here is a short explanation of {topic}: it is a well studied subject ({digest[:8]})."


def default_fake_judgement(request: ChatRequest) -> str:
    """A valid answer for each judging prompt, derived from the request so it is stable and varied."""
    prompt = request.messages[-1]["content"]
    digest = int(hashlib.sha256(prompt.encode()).hexdigest()[:6], 16)
    if '"difficulty"' in prompt:
        level = ("very easy", "easy", "medium", "hard", "very hard")[digest % 5]
        return json.dumps({"intent": "The user wants to learn.", "knowledge": "Basics.", "difficulty": level})
    if '"input_quality"' in prompt:
        quality = ("very poor", "poor", "average", "good", "excellent")[digest % 5]
        return json.dumps({"quality_explanation": "Clear enough.", "input_quality": quality})
    if '"primary_tag"' in prompt:
        return json.dumps({"primary_tag": ("Math", "Reasoning", "Coding & Debugging")[digest % 3], "other_tags": []})
    if '"score"' in prompt:
        return json.dumps({"score": 1 + digest % 10})
    return "safe"


class FakeEngine(GenerationEngine):
    """A `GenerationEngine` without a model; counts whitespace-separated words as tokens."""

    engine_name = "fake"

    def __init__(
        self,
        model_name: str = "fake-model",
        text_for: Callable[[CompletionRequest], str] = default_fake_text,
        answer_for: Callable[[ChatRequest], str] | None = None,
        supports_json_schema: bool = True,
        continuous: bool = False,
    ) -> None:
        super().__init__(model_name)
        self.text_for = text_for
        self.answer_for = answer_for or default_fake_judgement
        self.supports_json_schema = supports_json_schema
        self.continuous = continuous
        self.requests: list[CompletionRequest] = []
        self.chat_requests: list[ChatRequest] = []

    def chat(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self.chat_requests.extend(requests)
        completions = []
        for request in requests:
            text = self.answer_for(request)
            prompt_words = sum(len(message["content"].split()) for message in request.messages)
            completions.append(Completion(text, prompt_words, len(text.split()), "stop"))
        return completions

    def complete(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        self.requests.extend(requests)
        return [self._complete_one(request) for request in requests]

    def complete_stream(self, requests: Sequence[CompletionRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        """`continuous`: the whole stream at once, shortest answers first, as slots that never wait on a batch
        would finish them (the order crosses every chunk boundary)."""
        if not self.continuous:
            yield from super().complete_stream(requests, chunk)
            return
        yield from _as_finished(self.complete(requests))

    def chat_stream(self, requests: Sequence[ChatRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        if not self.continuous:
            yield from super().chat_stream(requests, chunk)
            return
        yield from _as_finished(self.chat(requests))

    def _complete_one(self, request: CompletionRequest) -> Completion:
        text = self.text_for(request)
        for stop in request.sampling.stop:
            text = text.split(stop, 1)[0]
        words = text.split(" ")
        finish_reason = "stop"
        if len(words) > request.sampling.max_tokens:
            text, finish_reason = " ".join(words[: request.sampling.max_tokens]), "length"
        return Completion(
            text=text,
            prompt_tokens=len(request.prompt.split()),
            completion_tokens=min(len(words), request.sampling.max_tokens),
            finish_reason=finish_reason,
        )


def _as_finished(completions: list[Completion]) -> list[tuple[int, Completion]]:
    """Shortest first, later requests first among equals: far from request order, and the same every time."""
    return sorted(enumerate(completions), key=lambda item: (item[1].completion_tokens, -item[0]))
