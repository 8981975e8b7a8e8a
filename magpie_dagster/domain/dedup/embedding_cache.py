"""A partition's embeddings: reuse each stored vector whose text is unchanged, embed the rest in one call."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from magpie_dagster.domain.dedup.normalise import text_hash


@dataclass(frozen=True)
class PartitionEmbeddings:
    hashes: dict[str, str]  # conversation id -> normalised text hash
    rows: list[tuple[str, str, np.ndarray]]  # (conversation id, text hash, vector), in the partition's order
    embedded: int  # rows whose text was new or changed
    seconds: float  # spent embedding them


def embed_partition(
    rows: Sequence[tuple[str, str]],
    stored: Mapping[str, tuple[str, np.ndarray]],
    embed: Callable[[list[str]], np.ndarray],
) -> PartitionEmbeddings:
    """`rows`: (conversation id, instruction); `stored`: conversation id -> (text hash, vector) from the cache."""
    hashes = {conversation_id: text_hash(instruction) for conversation_id, instruction in rows}
    missing = [(i, text) for i, text in rows if stored.get(i, ("",))[0] != hashes[i]]
    started = time.monotonic()
    vectors = embed([text for _, text in missing]) if missing else np.empty((0, 0), dtype=np.float32)
    seconds = time.monotonic() - started
    fresh = {i: vector for (i, _), vector in zip(missing, vectors, strict=True)}
    kept = [(i, hashes[i], fresh[i] if i in fresh else stored[i][1]) for i, _ in rows]
    return PartitionEmbeddings(hashes, kept, len(missing), seconds)
