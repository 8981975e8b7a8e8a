"""An embedding classifier for the judged tags: the nearest class centroid over sentence embeddings of a
hand-labelled set.

Why this and not the packaged 135M judge: on the team's 72 labels, held out one at a time, the centroid of each
label's embeddings picks the task category 65% of the time (a constant: 8%; the 135M judge: 24%) and is the only
CPU tagger that beats a constant on difficulty and quality (docs/tagging.md). Nearest centroid has no
hyperparameter to tune, which is what 72 labels can honestly support. Pure numpy: the caller embeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from magpie_dagster.domain.tagging.labels import LABEL_SETS

CLASSIFIER_VERSION = "centroid-v1"


def classifier_prompt_version(labels_fingerprint: str) -> str:
    """What a classifier's judgements are keyed by (as an LLM judge's by its prompt version): its method and the
    labelled set it learnt from, so editing the labels re-tags the rows."""
    return f"{CLASSIFIER_VERSION}:labels-{labels_fingerprint}"


@dataclass(frozen=True)
class Prediction:
    label: str
    similarity: float  # cosine to the label's centroid
    margin: float  # how much nearer than the runner-up label (0 when only one label has examples)


class CentroidClassifier:
    """Per field (task_category, difficulty, input_quality), the normalised mean embedding of each label's
    examples; a row gets the label whose centroid is nearest (cosine). Labels without examples are never given."""

    def __init__(self, vectors: np.ndarray, gold: dict[str, Sequence[str]]) -> None:
        self._sums = {field: _label_sums(vectors, labels, LABEL_SETS[field]) for field, labels in gold.items()}
        self._counts = {field: _label_counts(labels, LABEL_SETS[field]) for field, labels in gold.items()}

    def predict(self, field: str, vectors: np.ndarray) -> list[Prediction]:
        return _nearest(vectors, self._sums[field], self._counts[field], LABEL_SETS[field])

    def held_out(self, field: str, vectors: np.ndarray, own_labels: Sequence[str | None]) -> list[str]:
        """Labels for `vectors`, each row that is one of the training examples (its training label in
        `own_labels`, None for a row the classifier never saw) taken out of its centroid first: leave-one-out."""
        label_set = LABEL_SETS[field]
        predicted = []
        for vector, own in zip(vectors, own_labels, strict=True):
            sums, counts = self._sums[field], self._counts[field]
            if own is not None:
                index = label_set.index(own)
                sums, counts = sums.copy(), counts.copy()
                sums[index] -= vector
                counts[index] -= 1
            predicted.append(_nearest(vector[None, :], sums, counts, label_set)[0].label)
        return predicted


def _label_sums(vectors: np.ndarray, labels: Sequence[str], label_set: Sequence[str]) -> np.ndarray:
    sums = np.zeros((len(label_set), vectors.shape[1]), dtype=np.float64)
    for vector, label in zip(vectors, labels, strict=True):
        sums[label_set.index(label)] += vector
    return sums


def _label_counts(labels: Sequence[str], label_set: Sequence[str]) -> np.ndarray:
    return np.array([sum(label == candidate for label in labels) for candidate in label_set], dtype=np.int64)


def _nearest(vectors: np.ndarray, sums: np.ndarray, counts: np.ndarray, label_set: Sequence[str]) -> list[Prediction]:
    present = np.flatnonzero(counts > 0)
    if present.size == 0:
        raise ValueError("no labelled examples: the classifier cannot give any label")
    centroids = sums[present]
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    centroids = centroids / np.where(norms > 0, norms, 1.0)
    similarities = np.asarray(vectors, dtype=np.float64) @ centroids.T
    ranked = np.argsort(-similarities, axis=1, kind="stable")
    predictions = []
    for row, order in zip(similarities, ranked, strict=True):
        best = order[0]
        margin = row[best] - row[order[1]] if order.size > 1 else 0.0
        predictions.append(Prediction(label_set[present[best]], round(float(row[best]), 4), round(float(margin), 4)))
    return predictions
