"""`dedup` in the catalogue: the embedder and the distance under which two instructions are near-duplicates."""

from __future__ import annotations

from pydantic import Field

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.dedup.neighbours import DEFAULT_THRESHOLD


class DedupSettings(Strict):
    embedder: str = "packaged:all-minilm-l6-v2"  # or any sentence-transformers folder, e.g. all-mpnet-base-v2
    embedder_license: str | None = None  # for the dataset card; the packaged embedder's is known (apache-2.0)
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0.0, le=4.0)  # squared L2 on unit vectors
    batch_size: int = Field(64, ge=1, le=4096)
