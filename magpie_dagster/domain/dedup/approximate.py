"""Approximate k-nearest-neighbour search with faiss, for corpora too large for the exact blocked search.

An inverted-file index (IVF, fp16 vectors, inner product on unit vectors) with nlist ~ 4 sqrt(N) cells, trained on
a sample and probed `nprobe` cells per query: at 1M x 384 it answers in minutes on 2 cores within ~2 GiB, with the
recall of the top-1 neighbour measured by `bench/dedup_scale.py`. Returns the same shapes as the exact search's
query side (nearest other row, its distance, pairs under the threshold among the k found).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from magpie_dagster.domain.dedup.neighbours import DEFAULT_THRESHOLD


@dataclass(frozen=True)
class ApproximateNeighbours:
    nearest: np.ndarray  # corpus index of each query's nearest other row, -1 if none found
    distance: np.ndarray  # squared L2 (inf if none)
    pairs: np.ndarray  # (n, 3): query index, corpus index, distance < threshold (among the k found)


def build_index(corpus: np.ndarray, nprobe: int = 16, train_size: int = 60_000, seed: int = 0):
    import faiss

    count, dimensions = corpus.shape
    cells = max(1, min(int(4 * np.sqrt(count)), count // 39))  # faiss wants >= 39 training points per cell
    quantizer = faiss.IndexFlatIP(dimensions)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dimensions, cells, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    sample = corpus[np.random.default_rng(seed).choice(count, size=min(train_size, count), replace=False)]
    index.train(sample)
    index.add(corpus)
    index.nprobe = nprobe
    return index


def search_approximate(
    index, queries: np.ndarray, self_index: np.ndarray, k: int = 8, threshold: float = DEFAULT_THRESHOLD
) -> ApproximateNeighbours:
    similarities, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), k + 1)
    distances = np.maximum(2.0 - 2.0 * similarities, 0.0).astype(np.float32)
    distances[(found < 0) | (found == self_index[:, None])] = np.inf
    order = np.argsort(distances, axis=1, kind="stable")
    distances = np.take_along_axis(distances, order, axis=1)
    found = np.take_along_axis(found, order, axis=1)
    nearest = np.where(np.isfinite(distances[:, 0]), found[:, 0], -1)
    rows, columns = np.nonzero(distances < threshold)
    pairs = np.column_stack([rows, found[rows, columns], distances[rows, columns]]) if len(rows) else np.empty((0, 3))
    return ApproximateNeighbours(nearest, distances[:, 0], pairs)
