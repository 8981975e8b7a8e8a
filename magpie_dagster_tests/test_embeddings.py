"""The packaged all-MiniLM-L6-v2 embeds offline, unit-normalised, and puts paraphrases under the dedup threshold."""

from __future__ import annotations

import numpy as np
import pytest

from magpie_dagster.domain.completion import EngineError
from magpie_dagster.domain.dedup.neighbours import DEFAULT_THRESHOLD
from magpie_dagster.engines.embeddings import SentenceEmbedder

pytestmark = pytest.mark.slow


def test_packaged_model_embeds_offline_with_unit_vectors():
    embedder = SentenceEmbedder(batch_size=8)
    vectors = embedder.embed(["How do tides work?", "How do the tides work?", "Write a poem about cats."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    distance = 2 - 2 * vectors @ vectors.T
    assert distance[0, 1] < DEFAULT_THRESHOLD < distance[0, 2]
    assert embedder.embed([]).shape == (0, 384)


def test_a_model_that_is_not_on_disk_says_what_to_do(tmp_path):
    with pytest.raises(EngineError, match="cannot download models"):
        SentenceEmbedder(str(tmp_path / "no-such-model"))
