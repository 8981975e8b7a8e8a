"""Nearest neighbours of unit vectors, exactly, in blocks: distance = squared L2 = 2 - 2 cos.

Queries are compared with every corpus vector, one block of queries at a time, so memory stays at
block x corpus floats. For each query we keep its nearest other row and every row within the threshold
(the near-duplicate pairs); for each corpus row, the nearest query (so an incremental run can tell older
rows that a newcomer is now their nearest neighbour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.05  # squared L2 on unit vectors, about cosine 0.975 (the paper's setting)
BLOCK_BYTES = 256 * 2**20  # one block of the distance matrix; a few such temporaries live at once


@dataclass(frozen=True)
class NeighbourSearch:
    query_nearest: np.ndarray  # index into the corpus of each query's nearest other row (-1 if none)
    query_distance: np.ndarray  # its distance (inf if none)
    corpus_nearest: np.ndarray  # index into the queries of each corpus row's nearest other query (-1 if none)
    corpus_distance: np.ndarray
    pairs: np.ndarray  # (n, 3) rows of (query index, corpus index, distance) with distance < threshold


def search(
    queries: np.ndarray,
    corpus: np.ndarray,
    self_index: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    block_size: int | None = None,
) -> NeighbourSearch:
    """`self_index[i]` is query i's own row in the corpus (or -1), which never counts as its neighbour."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    corpus = np.ascontiguousarray(corpus, dtype=np.float32)
    n_queries, n_corpus = len(queries), len(corpus)
    query_nearest = np.full(n_queries, -1, dtype=np.int64)
    query_distance = np.full(n_queries, np.inf, dtype=np.float32)
    corpus_nearest = np.full(n_corpus, -1, dtype=np.int64)
    corpus_distance = np.full(n_corpus, np.inf, dtype=np.float32)
    pairs: list[np.ndarray] = []
    block_size = block_size or block_rows(n_corpus)
    # Work on similarities (distance = 2 - 2 sim, so nearest = most similar): the block is written once by the
    # matrix product and read once per reduction; distances are computed only for the values kept.
    min_similarity = 1.0 - threshold / 2.0
    for start in range(0, n_queries, block_size):
        stop = min(start + block_size, n_queries)
        similarities = queries[start:stop] @ corpus.T
        rows = np.arange(stop - start)
        own = self_index[start:stop]
        has_self = own >= 0
        similarities[rows[has_self], own[has_self]] = -np.inf
        if not n_corpus:
            continue
        nearest = similarities.argmax(axis=1)
        best = similarities[rows, nearest]
        query_nearest[start:stop] = nearest
        query_distance[start:stop] = _distance(best)
        block_best = similarities.argmax(axis=0)
        block_distance = _distance(similarities[block_best, np.arange(n_corpus)])
        closer = block_distance < corpus_distance
        corpus_nearest[closer] = block_best[closer] + start
        corpus_distance[closer] = block_distance[closer]
        # Only rows whose best match is close enough can have near-duplicate pairs.
        candidates = np.nonzero(best > min_similarity)[0]
        if len(candidates):
            close_q, close_c = np.nonzero(similarities[candidates] > min_similarity)
            close_q = candidates[close_q]
            distance = _distance(similarities[close_q, close_c])
            keep = distance < threshold
            pairs.append(np.column_stack([close_q[keep] + start, close_c[keep], distance[keep]]))
    query_nearest[~np.isfinite(query_distance)] = -1
    corpus_nearest[~np.isfinite(corpus_distance)] = -1
    all_pairs = np.concatenate(pairs) if pairs else np.empty((0, 3))
    return NeighbourSearch(query_nearest, query_distance, corpus_nearest, corpus_distance, all_pairs)


def block_rows(n_corpus: int) -> int:
    """Query rows per block, so one block of float32 similarities takes about `BLOCK_BYTES`."""
    return max(1, min(4096, BLOCK_BYTES // (4 * max(n_corpus, 1))))


def _distance(similarity: np.ndarray) -> np.ndarray:
    """Squared L2 of unit vectors from their cosine; -inf (the excluded own row) becomes inf."""
    return np.maximum(2.0 - 2.0 * similarity, 0.0).astype(np.float32)
