"""A partition's embeddings reuse stored vectors of unchanged texts and embed only new or changed ones."""

from __future__ import annotations

import numpy as np

from magpie_dagster.domain.dedup.embedding_cache import embed_partition
from magpie_dagster.domain.dedup.normalise import text_hash


def recording_embedder(calls: list[list[str]]):
    def embed(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[float(len(text)), 1.0] for text in texts], dtype=np.float32)

    return embed


def test_only_new_or_changed_texts_are_embedded():
    stored = {
        "a": (text_hash("Same text"), np.array([9.0, 9.0], dtype=np.float32)),
        "b": (text_hash("Old text"), np.array([7.0, 7.0], dtype=np.float32)),
    }
    calls: list[list[str]] = []
    rows = [("a", "Same text"), ("b", "New text!"), ("c", "Fresh")]
    result = embed_partition(rows, stored, recording_embedder(calls))
    assert calls == [["New text!", "Fresh"]]
    assert result.embedded == 2
    assert [(i, h) for i, h, _ in result.rows] == [("a", text_hash("Same text")), ("b", text_hash("New text!")),
                                                   ("c", text_hash("Fresh"))]  # fmt: skip
    vectors = {i: vector.tolist() for i, _, vector in result.rows}
    assert vectors == {"a": [9.0, 9.0], "b": [9.0, 1.0], "c": [5.0, 1.0]}


def test_a_fully_cached_partition_calls_no_embedder():
    stored = {"a": (text_hash("Same text"), np.array([9.0, 9.0], dtype=np.float32))}
    calls: list[list[str]] = []
    result = embed_partition([("a", "Same text")], stored, recording_embedder(calls))
    assert calls == [] and result.embedded == 0 and result.rows[0][2].tolist() == [9.0, 9.0]
