"""A partition's instructions against one benchmark by three methods, and which partitions a run must check.

Every method that finds a prompt records its own hit (the nearest or first prompt it found), so a table of hits says
how each instruction leaked: `exact` (the same normalised text), `ngram` (a long run of shared words), `embedding`
(a paraphrase: nearest prompt under `max_distance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from magpie_dagster.domain.decontamination.benchmarks import Benchmark
from magpie_dagster.domain.decontamination.config import DecontaminationSettings
from magpie_dagster.domain.decontamination.nearest import nearest_prompts
from magpie_dagster.domain.decontamination.ngrams import NgramIndex
from magpie_dagster.domain.dedup.normalise import text_hash

EXACT, NGRAM, EMBEDDING = "exact", "ngram", "embedding"
METHODS = (EXACT, NGRAM, EMBEDDING)


@dataclass(frozen=True)
class Hit:
    conversation_id: str
    benchmark: str
    method: str
    prompt_index: int
    shared_words: str | None = None  # ngram: the words shared in a row
    distance: float | None = None  # embedding: squared L2 to the prompt


class BenchmarkMatcher:
    """`prompt_vectors`: the prompts' unit embeddings in file order, or None when embeddings are off."""

    def __init__(
        self, benchmark: Benchmark, settings: DecontaminationSettings, prompt_vectors: np.ndarray | None
    ) -> None:
        self.benchmark = benchmark
        self._max_distance = settings.max_distance
        self._exact: dict[str, int] = {}
        for index, prompt in enumerate(benchmark.prompts):
            self._exact.setdefault(text_hash(prompt), index)
        self._ngrams = NgramIndex(benchmark.prompts, settings.ngram, settings.min_ngram)
        self._prompt_vectors = prompt_vectors

    def hits(self, rows: Sequence[tuple[str, str]], vectors: np.ndarray | None) -> list[Hit]:
        """`rows`: (conversation id, instruction); `vectors`: their unit embeddings in the same order."""
        name = self.benchmark.name
        found: list[Hit] = []
        for conversation_id, instruction in rows:
            exact = self._exact.get(text_hash(instruction))
            if exact is not None:
                found.append(Hit(conversation_id, name, EXACT, exact))
            overlap = self._ngrams.first_overlap(instruction)
            if overlap is not None:
                found.append(Hit(conversation_id, name, NGRAM, overlap.prompt_index, shared_words=overlap.shared))
        if self._max_distance is not None and self._prompt_vectors is not None and vectors is not None:
            for row, prompt, distance in nearest_prompts(vectors, self._prompt_vectors, self._max_distance):
                found.append(Hit(rows[row][0], name, EMBEDDING, prompt, distance=distance))
        return found


def partitions_to_check(
    own: str,
    partitions: Iterable[str],
    checked: Mapping[tuple[str, str], str],
    keys: Mapping[str, str],
) -> dict[str, list[str]]:
    """partition -> the benchmarks to check it against. The run's own partition against every benchmark (its rows
    may be new); every other partition against each benchmark whose stored check (`checked`: (partition,
    benchmark) -> check key) is missing or was made with another file or setting (`keys`: benchmark -> key)."""
    plan = {own: sorted(keys)} if keys else {}
    for partition in partitions:
        if partition == own:
            continue
        stale = sorted(name for name, key in keys.items() if checked.get((partition, name)) != key)
        if stale:
            plan[partition] = stale
    return plan
