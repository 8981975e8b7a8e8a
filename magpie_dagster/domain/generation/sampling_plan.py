"""Deterministic identities and seeds for the samples of one partition.

Every sample is named by (model key, partition date, index): its conversation id and its seed derive from
that, so re-running a partition reproduces it, and no two samples (within or across partitions) share a
seed (vLLM with one seed for n>1 samples returns n identical texts).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from magpie_dagster.domain.catalogue import SystemPrompt
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


def sample_seed(model_key: str, partition_date: dt.date, index: int, purpose: str = "instruction") -> int:
    return derived_seed(purpose, model_key, partition_date.isoformat(), index)


def plan_samples(
    model_key: str,
    partition_date: dt.date,
    count: int,
    system_prompts: Sequence[SystemPrompt] = (),
) -> list[PlannedSample]:
    """The partition's samples, each with its steering system prompt drawn by weight (seeded per partition)."""
    chooser = random.Random(sample_seed(model_key, partition_date, -1, purpose="system_prompt"))
    weights = [prompt.weight for prompt in system_prompts]
    return [
        PlannedSample(
            index=index,
            conversation_id=conversation_id(model_key, partition_date, index),
            seed=sample_seed(model_key, partition_date, index),
            system_prompt=chooser.choices(system_prompts, weights=weights)[0] if system_prompts else None,
        )
        for index in range(count)
    ]
