"""Deterministic identities and seeds for the samples of one partition.

Every sample is named by (model key, partition date, index): its conversation id and its seed derive from
that, so re-running a partition reproduces it, and no two samples (within or across partitions) share a
seed (vLLM with one seed for n>1 samples returns n identical texts).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from magpie_dagster.domain.generation.config import SystemPrompt
from magpie_dagster.domain.seeds import derived_seed

_CONVERSATION_NAMESPACE = uuid.UUID("6d61676d-7069-6500-8000-646167737472")


@dataclass(frozen=True)
class PlannedSample:
    index: int
    conversation_id: str
    seed: int
    system_prompt: SystemPrompt | None


def partition_label(model_key: str, partition_date: dt.date) -> str:
    """How people, logs and leases name one model x date partition: `smollm2_135m|2026-12-02`."""
    return f"{model_key}|{partition_date.isoformat()}"


def conversation_id(model_key: str, partition_date: dt.date, index: int) -> str:
    return str(uuid.uuid5(_CONVERSATION_NAMESPACE, f"{model_key}/{partition_date.isoformat()}/{index}"))


def answer_id(instruction_id: str, responder: str, model_key: str) -> str:
    """The conversation id of `responder`'s answer to an instruction: the instruction's own id when the model that
    wrote it answers, so a night without responders keeps one id per row."""
    if responder == model_key:
        return instruction_id
    return str(uuid.uuid5(_CONVERSATION_NAMESPACE, f"{instruction_id}/answered-by/{responder}"))


def sample_seed(model_key: str, partition_date: dt.date, index: int, purpose: str = "instruction") -> int:
    return derived_seed(purpose, model_key, partition_date.isoformat(), index)


def plan_samples(
    model_key: str,
    partition_date: dt.date,
    count: int,
    system_prompts: Sequence[SystemPrompt] = (),
    steering: Sequence[tuple[int, Mapping[str, float]]] = (),
) -> list[PlannedSample]:
    """The partition's samples, each with its steering system prompt drawn by weight (seeded per partition).

    `steering`: (first index, prompt name -> weight) of each later round that re-weighted the prompts. Every
    draw takes one number from the same seeded stream whatever the weights, so the first n samples are the
    same whatever `count` and the weights of samples after them.
    """
    chooser = random.Random(sample_seed(model_key, partition_date, -1, purpose="system_prompt"))
    changes = sorted(steering, key=lambda change: change[0])
    weights = [prompt.weight for prompt in system_prompts]
    samples = []
    for index in range(count):
        while changes and changes[0][0] <= index:
            steered = changes.pop(0)[1]
            weights = [steered.get(prompt.name, prompt.weight) for prompt in system_prompts]
        samples.append(
            PlannedSample(
                index=index,
                conversation_id=conversation_id(model_key, partition_date, index),
                seed=sample_seed(model_key, partition_date, index),
                system_prompt=chooser.choices(system_prompts, weights=weights)[0] if system_prompts else None,
            )
        )
    return samples
