"""Test seams: an engine resource that hands out the deterministic fake engine instead of a model."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Callable

import numpy as np

from magpie_dagster.defs.resources import EmbedderResource, EngineResource
from magpie_dagster.domain.completion import ChatRequest, CompletionRequest, EngineError, GenerationEngine
from magpie_dagster.domain.dedup.normalise import normalise_text
from magpie_dagster.domain.engine_config import Connection
from magpie_dagster.engines.fake import FakeEngine, default_fake_judgement, default_fake_text


def _echo_every_third(request: CompletionRequest) -> str:
    """Every third sample echoes the template (a real failure mode of small models)."""
    if request.seed % 3 == 0 and not request.prompt.rstrip().endswith("assistant"):
        return "assistant\nSure, here you go<|im_end|>"
    return default_fake_text(request)


def _unreachable(label: str) -> GenerationEngine:
    raise EngineError(f"Cannot reach the OpenAI-compatible server for model {label!r} at http://127.0.0.1:9/v1")


def _repetitive(request: CompletionRequest) -> str:
    """Instructions drawn from four fixed questions, so partitions and models duplicate each other."""
    if request.prompt.rstrip().endswith(("user", "<|user|>", "[INST]")):
        return ("How do tides work?", "Explain binary search.", "What is sourdough?", "Name three primes.")[
            request.seed % 4
        ]
    return default_fake_text(request)


def _die_by_sigsegv(request: CompletionRequest) -> str:
    """A stand-in for a crash in native code (llama.cpp's AMX path): the process dies by signal 11."""
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("unreachable: SIGSEGV ends the process")


def _slow(request: CompletionRequest) -> str:
    """A quarter of a second per request, so two runs of one partition overlap."""
    time.sleep(0.25)
    return default_fake_text(request)


def _looping_answers(request: CompletionRequest) -> str:
    """Every third answer loops the way SmolLM2 does under greedy decoding (a list of one repeated item)."""
    if request.seed % 3 == 0 and not request.prompt.rstrip().endswith(("user", "<|user|>", "[INST]")):
        return "Sure, here are 50 synonyms for happy:\n\n" + "* Calm\n" * 40
    return default_fake_text(request)


def _huge(request: CompletionRequest) -> str:
    """Half a megabyte per sample: a few batches outgrow a small file size limit (a disk that fills up)."""
    return "x" * 500_000


def _steerable(request: CompletionRequest) -> str:
    """Instructions follow the steering system prompt: "about sums" asks a sum, "about code" asks for a fix."""
    if request.prompt.rstrip().endswith(("user", "<|user|>", "[INST]")):
        if "about sums" in request.prompt:
            return f"Solve this sum, please: 17 + {request.seed % 1000}?"
        if "about code" in request.prompt:
            return f"Fix this code, please: print({request.seed % 1000}"
    return default_fake_text(request)


def _thinking(request: CompletionRequest) -> str:
    """A reasoning model: answers open with a <think> block; every third one never closes it."""
    if request.prompt.rstrip().endswith(("user", "<|user|>", "[INST]")):
        return default_fake_text(request)
    if int(hashlib.sha256(request.prompt.encode()).hexdigest()[:4], 16) % 3 == 0:
        return "<think>Let me think about this. First, the question asks"
    return f"<think>The user asks a question; I recall the facts.</think>\n\n{default_fake_text(request)}"


# Benchmark prompts for the decontamination tests, and how `_leaking` plants them among its instructions.
BENCHMARK_PROMPTS = (
    "Explain the difference between TCP and UDP in computer networking, with an example of when to use each.",
    "Write a Python function that checks whether a given string is a palindrome, ignoring spaces, punctuation and "
    "letter case.",
    "Describe the life cycle of a star, from its formation in a nebula to its final stage as a white dwarf or a black "
    "hole.",
)
PLANTED = {
    # the first prompt retyped: other case, no full stop
    "exact": "explain the difference between TCP and UDP in computer networking, with an example of when to use each",
    # the second prompt reworded: no 8 words in a row in common, but the same request
    "paraphrase": "Create a Python function to determine if a string is a palindrome, disregarding punctuation, "
    "whitespace and capitalisation.",
    # the third prompt inside a longer request: 20 words in a row in common
    "quoted": "For my astronomy homework: describe the life cycle of a star, from its formation in a nebula to its "
    "final stage as a white dwarf. Keep it short, please.",
}


def _leaking(request: CompletionRequest) -> str:
    """Seeds 0-2 modulo 8 ask a benchmark's prompt (retyped, reworded, quoted); the rest are default questions."""
    if request.prompt.rstrip().endswith(("user", "<|user|>", "[INST]")) and request.seed % 8 < len(PLANTED):
        return list(PLANTED.values())[request.seed % 8]
    return default_fake_text(request)


SCRIPTS: dict[str, Callable[[CompletionRequest], str]] = {
    "default": default_fake_text,
    "huge": _huge,
    "slow": _slow,
    "repetitive": _repetitive,
    "echo_every_third": _echo_every_third,
    "looping_answers": _looping_answers,
    "steerable": _steerable,
    "thinking": _thinking,
    "leaking": _leaking,
}


def _garbage_for_odd_seeds(request: ChatRequest) -> str:
    """Half the judge's first answers are prose; retries (new seeds) may recover."""
    return "I would say it is fine." if request.seed % 2 else default_fake_judgement(request)


def _constant(request: ChatRequest) -> str:
    """A judge that answers the same whatever it reads (the embedded judge's "very easy" on every row)."""
    prompt = request.messages[-1]["content"]
    if '"difficulty"' in prompt:
        return json.dumps({"intent": "To know.", "knowledge": "Basics.", "difficulty": "very easy"})
    if '"input_quality"' in prompt:
        return json.dumps({"quality_explanation": "Fine.", "input_quality": "average"})
    if '"primary_tag"' in prompt:
        return json.dumps({"primary_tag": "Coding & Debugging", "other_tags": []})
    return default_fake_judgement(request)


def _category_by_keyword(request: ChatRequest) -> str:
    """A deterministic stand-in judge: sums are Math, code fixes Coding & Debugging, the rest Information seeking;
    every other tag as the default judge answers it."""
    prompt = request.messages[-1]["content"]
    if '"primary_tag"' in prompt:
        category = (
            "Math" if "Solve this sum" in prompt else "Coding & Debugging" if "Fix this code" in prompt
            else "Information seeking"
        )
        return json.dumps({"primary_tag": category, "other_tags": []})
    return default_fake_judgement(request)


def _always_garbage(request: ChatRequest) -> str:
    return "Sorry, I cannot rate that."


JUDGE_SCRIPTS: dict[str, Callable[[ChatRequest], str]] = {
    "valid": default_fake_judgement,
    "garbage_for_odd_seeds": _garbage_for_odd_seeds,
    "always_garbage": _always_garbage,
    "constant": _constant,
    "category_by_keyword": _category_by_keyword,
}


class FakeEngineResource(EngineResource):
    """`script` picks how the fake answers; `unreachable` makes opening the engine fail like a dead server;
    the engines of `crashing_models` kill their own process with SIGSEGV on the first request; after
    `fail_after_requests` completion requests every further one fails like a server that went away; the engines
    of `thinking_models` answer with a <think> block; `continuous` streams out of request order. Each
    completion request appends `label seed` to `request_log` when set, each chat request `label chat seed` (to
    count engine calls); each
    engine opened appends its label and process id to `open_log` when set (to count model loads)."""

    script: str = "default"
    judge_script: str = "valid"
    second_judge_script: str | None = None  # how the scorecard's second judge answers (default: as the judge)
    unreachable: bool = False
    crashing_models: list[str] = []
    thinking_models: list[str] = []  # these answer like a reasoning model (the `thinking` script)
    fail_after_requests: int | None = None
    request_log: str | None = None
    open_log: str | None = None
    continuous: bool = False  # stream completions as continuous decoding finishes them (out of request order)

    def _open(self, label: str, connection: Connection) -> GenerationEngine:
        if self.open_log:
            with open(self.open_log, "a", encoding="utf-8") as file:
                file.write(f"{label} {os.getpid()}\n")
        if self.unreachable:
            return _unreachable(label)
        text_for = _die_by_sigsegv if label in self.crashing_models else SCRIPTS[self.script]
        if label in self.thinking_models:
            text_for = _thinking
        answer_for = JUDGE_SCRIPTS[self.judge_script]
        if label == "second_judge" and self.second_judge_script:
            answer_for = JUDGE_SCRIPTS[self.second_judge_script]
        if self.fail_after_requests is not None or self.request_log:
            text_for = _counted(text_for, label, self.fail_after_requests, self.request_log)
        if self.request_log:
            answer_for = _logged_chat(answer_for, label, self.request_log)
        return FakeEngine(
            model_name=f"fake-{label}", text_for=text_for, answer_for=answer_for, continuous=self.continuous
        )


def _counted(text_for, label: str, fail_after: int | None, log: str | None):
    served = [0]

    def text(request: CompletionRequest) -> str:
        if fail_after is not None and served[0] >= fail_after:
            raise EngineError(f"The server for {label!r} went away after {fail_after} requests (test fault)")
        served[0] += 1
        if log:
            with open(log, "a", encoding="utf-8") as file:
                file.write(f"{label} {request.seed}\n")
        return text_for(request)

    return text


def _logged_chat(answer_for, label: str, log: str):
    """Chat requests (the judge's) are engine calls too: logged as `label chat seed`."""

    def answer(request: ChatRequest) -> str:
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"{label} chat {request.seed}\n")
        return answer_for(request)

    return answer


class _HashEmbedder:
    """Equal normalised texts get equal vectors; different texts get unrelated unit vectors."""

    name = "fake-embedder"
    dimensions = 16

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = []
        for text in texts:
            seed = int(hashlib.sha256(normalise_text(text).encode()).hexdigest()[:8], 16)
            vector = np.random.default_rng(seed).normal(size=self.dimensions)
            vectors.append(vector / np.linalg.norm(vector))
        return np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimensions)


class FakeEmbedderResource(EmbedderResource):
    def get(self, model: str, batch_size: int):
        return _HashEmbedder()
