"""The catalogue's `judging.classifier` as a tagger: one embedding of each instruction answers every tag it
owns, and the same fit measures itself on held-out labels (leave-one-out) for eval-judge and the scorecard.

The embedder is opened through the caller's callable, on the first batch that needs it: a fully cached
partition loads no model.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from magpie_dagster.domain.tagging.classifier import CentroidClassifier, classifier_prompt_version
from magpie_dagster.domain.tagging.config import ClassifierEntry
from magpie_dagster.domain.tagging.evaluation import (
    SCORED_FIELD,
    LabelledInstruction,
    LabelledSet,
    TagScore,
    score_labels,
)
from magpie_dagster.domain.tagging.judge import JudgeItem, TagResult
from magpie_dagster.domain.tagging.tagging import TagVersion

HELD_OUT = "leave-one-out"  # how a classifier's stored score was measured on its own labelled set


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised vectors, one row per text."""


OpenEmbedder = Callable[[str, int], Embedder]  # (embedder name, batch size)


class EmbeddingTagger:
    def __init__(self, entry: ClassifierEntry, labelled: LabelledSet, open_embedder: OpenEmbedder) -> None:
        self.entry = entry
        self.labelled = labelled
        self.judge_model = f"centroid:{entry.embedder}"
        self.prompt_version = classifier_prompt_version(labelled.fingerprint)
        self._open_embedder = open_embedder
        self._classifier: CentroidClassifier | None = None
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def fitted(self) -> bool:
        return self._classifier is not None

    def version(self, tag: str) -> TagVersion:
        return TagVersion(tag, self.judge_model, self.prompt_version)

    def tag(self, tag: str, items: Sequence[JudgeItem]) -> list[TagResult]:
        """Each item's label for `tag` with its similarity and margin as the raw answer; never fails a row."""
        if not items:
            return []
        field = SCORED_FIELD[tag]
        predictions = self._fit().predict(field, self._embed([item.instruction for item in items]))
        version = self.version(tag)
        return [
            version.untokened_result(
                item.conversation_id,
                _columns(field, prediction.label),
                json.dumps(dataclasses.asdict(prediction)),
            )
            for item, prediction in zip(items, predictions, strict=True)
        ]

    def held_out(self, tag: str, items: Sequence[LabelledInstruction] | None = None) -> TagScore:
        """`tag`'s score on `items` (default: its own labelled set): a row that is also a training example is
        classified without it, so no row is scored by a classifier that saw its label."""
        items = self.labelled.items if items is None else items
        field = SCORED_FIELD[tag]
        training = {item.instruction: item.labels[field] for item in self.labelled.items}
        vectors = self._embed([item.instruction for item in items])
        predicted = self._fit().held_out(field, vectors, [training.get(item.instruction) for item in items])
        gold = [item.labels[field] for item in items]
        return score_labels(tag, field, self.prompt_version, self.judge_model, gold, predicted)

    def _fit(self) -> CentroidClassifier:
        if self._classifier is None:
            items = self.labelled.items
            vectors = self._embed([item.instruction for item in items])
            gold = {field: [item.labels[field] for item in items] for field in SCORED_FIELD.values()}
            self._classifier = CentroidClassifier(vectors, gold)
        return self._classifier

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Vectors by text, each text embedded once per run: the tags share one embedding of each instruction
        (kept for the run: 1.5 KB a row with MiniLM, 150 MB for a partition of 100,000 rows)."""
        missing = list(dict.fromkeys(text for text in texts if text not in self._vectors))
        if missing:
            embedder = self._open_embedder(self.entry.embedder, self.entry.batch_size)
            self._vectors.update(zip(missing, embedder.embed(missing), strict=True))
        return np.stack([self._vectors[text] for text in texts])


def _columns(field: str, label: str) -> dict:
    if field == "task_category":
        return {"task_category": label, "other_task_category": []}
    return {field: label}
