"""Embedding nearest neighbours between instructions and benchmark prompts (unit vectors: squared L2 = 2 - 2 cos)."""

from __future__ import annotations

import numpy as np

_CHUNK = 4096  # instructions per matrix product: 4096 x 5k prompts of float32 is 80 MB


def nearest_prompts(
    vectors: np.ndarray, prompt_vectors: np.ndarray, max_distance: float
) -> list[tuple[int, int, float]]:
    """(instruction row, its nearest prompt, squared L2) for every instruction nearer than `max_distance`."""
    if not len(vectors) or not len(prompt_vectors):
        return []
    found: list[tuple[int, int, float]] = []
    for offset in range(0, len(vectors), _CHUNK):
        similarity = vectors[offset : offset + _CHUNK] @ prompt_vectors.T
        best = similarity.argmax(axis=1)
        distance = np.maximum(0.0, 2.0 - 2.0 * similarity[np.arange(len(best)), best])
        for row in np.flatnonzero(distance < max_distance):
            found.append((offset + int(row), int(best[row]), float(distance[row])))
    return found
