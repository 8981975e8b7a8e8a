"""What llama.cpp's batched decoding takes and gives: a request as tokens, its result, and the KV cells a call
needs (the prompt prefix all its requests share is evaluated once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from magpie_dagster.domain.completion import SamplingParams


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


def cells_needed(jobs: Sequence[DecodeJob], prefix_length: int) -> int:
    """KV cells of a stream: the shared prefix plus the longest job's own tokens (prompt rest + output)."""
    own = (len(job.prompt_tokens) - prefix_length + job.sampling.max_tokens for job in jobs)
    return prefix_length + max(own, default=0)


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
