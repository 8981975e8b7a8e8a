"""What llama.cpp's batched decoding takes and gives: a request as tokens, its result, and the KV cache a call
needs (the prompt prefix all its requests share is evaluated once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from magpie_dagster.domain.completion import SamplingParams

LONG_PREFIX = 128  # tokens; see holds_prefix_once


@dataclass(frozen=True)
class DecodeJob:
    prompt_tokens: tuple[int, ...]
    sampling: SamplingParams
    seed: int
    grammar: str | None = None
    """A GBNF grammar (root rule `root`) every sampled token must follow."""


@dataclass(frozen=True)
class DecodeResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"
    tokens: tuple[int, ...] = ()
    """The sampled tokens, end-of-generation excluded."""


def cells_needed(jobs: Sequence[DecodeJob], prefix_length: int, sequences: int) -> int:
    """KV cells for the shared prefix plus the `sequences` longest jobs' own tokens (prompt rest + output): one
    sequence for a stream of its own, all that run at once for the unified cache."""
    own = sorted((len(job.prompt_tokens) - prefix_length + job.sampling.max_tokens for job in jobs), reverse=True)
    return prefix_length + sum(own[:sequences])


def holds_prefix_once(prefix_length: int) -> bool:
    """Whether a call's shared prefix is long enough to keep once, in llama.cpp's unified cache, rather than copy it
    into each sequence's own KV stream, where every step reads it once per sequence.

    Measured (docs/performance.md): generation's pre-query templates (under 40 tokens) decode faster on own streams
    (answers 1.07x engine alone); a judge's system turn and rubric (~260 tokens) judged 0.8x as fast there.
    """
    return prefix_length >= LONG_PREFIX


def shared_prefix(jobs: Sequence[DecodeJob]) -> tuple[int, ...]:
    """The prompt tokens every job starts with, less one: each prompt's last token gives its first sample."""
    if not jobs:
        return ()
    prompts = [job.prompt_tokens for job in jobs]
    first = prompts[0]
    length = min(len(prompt) for prompt in prompts) - 1
    for prompt in prompts[1:]:
        same = 0
        while same < length and prompt[same] == first[same]:
            same += 1
        length = same
    return tuple(first[: max(length, 0)])
