"""Embedding nearest neighbours between instructions and benchmark prompts: dedup's exact block search, with the
prompts as the corpus (unit vectors: squared L2 = 2 - 2 cos)."""

from __future__ import annotations

import numpy as np

from magpie_dagster.domain.dedup.neighbours import search


def nearest_prompts(
    vectors: np.ndarray, prompt_vectors: np.ndarray, max_distance: float
) -> list[tuple[int, int, float]]:
    """(instruction row, its nearest prompt, squared L2) for every instruction nearer than `max_distance`."""
    if not len(vectors) or not len(prompt_vectors):
        return []
    found = search(vectors, prompt_vectors, np.full(len(vectors), -1), threshold=max_distance)
    return [
        (int(row), int(found.query_nearest[row]), float(found.query_distance[row]))
        for row in np.flatnonzero(found.query_distance < max_distance)
    ]
