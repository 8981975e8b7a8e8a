"""The scorecard's measures that are more than a count: diversity, entropy, the distance from a category mix."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from magpie_dagster.domain.curation.rules import ShareBounds


def vendi_score(embeddings: np.ndarray) -> float | None:
    """The Vendi score (Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning",
    TMLR 2023) under the cosine kernel: exp of the Shannon entropy of the eigenvalues of K/n, the effective number
    of distinct rows (1 when every row is the same, n when all are orthogonal). K/n = X X^T / n has the same
    non-zero eigenvalues as X^T X / n, so it costs O(n d^2), not O(n^2): 100k rows of 384 dimensions in a second.
    None for no rows."""
    if embeddings.shape[0] == 0:
        return None
    rows = embeddings.astype(np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows = rows / np.where(norms == 0, 1.0, norms)
    eigenvalues = np.linalg.eigvalsh(rows.T @ rows / rows.shape[0])
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    eigenvalues = eigenvalues / eigenvalues.sum()
    return float(math.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


def entropy_bits(counts: Mapping[str, int]) -> float | None:
    """Shannon entropy (bits) of a label distribution: 0 when every row has one label, log2(k) when k are even."""
    total = sum(counts.values())
    if total == 0:
        return None
    shares = [count / total for count in counts.values() if count]
    return max(0.0, -sum(share * math.log2(share) for share in shares))


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {label: round(count / total, 4) for label, count in counts.items()} if total else {}


def mix_distance(reached: Mapping[str, float], bounds: Mapping[str, ShareBounds]) -> float | None:
    """How far a category mix is from the recipe's bounds: the summed share outside each category's [min, max]
    (0 inside every bound). None when the recipe asks for no mix."""
    if not bounds:
        return None
    return round(
        sum(
            max(0.0, bound.min - reached.get(category, 0.0), reached.get(category, 0.0) - bound.max)
            for category, bound in bounds.items()
        ),
        4,
    )
