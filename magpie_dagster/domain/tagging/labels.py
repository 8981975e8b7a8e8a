"""The label sets of Magpie's tags (the released datasets' values) and their normalisation.

Judges answer "Very Easy", "very-easy", "coding and debugging": every such spelling maps to the canonical
label, and anything else is refused rather than stored, so `SELECT difficulty, count(*)` only ever shows
labels of the set.
"""

from __future__ import annotations

import re

DIFFICULTY = ("very easy", "easy", "medium", "hard", "very hard")
INPUT_QUALITY = ("very poor", "poor", "average", "good", "excellent")
TASK_CATEGORIES = (
    "Information seeking",
    "Reasoning",
    "Planning",
    "Editing",
    "Coding & Debugging",
    "Math",
    "Role playing",
    "Data analysis",
    "Creative writing",
    "Advice seeking",
    "Brainstorming",
    "Others",
)
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "difficulty": DIFFICULTY,
    "input_quality": INPUT_QUALITY,
    "task_category": TASK_CATEGORIES,
}
_SYNONYMS = {
    "coding and debugging": "Coding & Debugging",
    "coding": "Coding & Debugging",
    "debugging": "Coding & Debugging",
    "mathematics": "Math",
    "roleplay": "Role playing",
    "role play": "Role playing",
    "roleplaying": "Role playing",
    "info seeking": "Information seeking",
    "information": "Information seeking",
    "other": "Others",
    "data analysis and visualization": "Data analysis",
    "fair": "average",
    "medium quality": "average",
    "moderate": "medium",
    "intermediate": "medium",
    "difficult": "hard",
    "extremely hard": "very hard",
    "trivial": "very easy",
}


class LabelError(ValueError):
    """A judge answered a label outside the tag's set."""


def _key(value: str) -> str:
    return re.sub(r"[\s_\-]+", " ", value.strip().strip(".\"'`*").casefold()).strip()


_LOOKUP: dict[str, dict[str, str]] = {
    field: {_key(label): label for label in labels} for field, labels in LABEL_SETS.items()
}


def normalise_label(field: str, value: object) -> str:
    """The canonical label for `value`; raises `LabelError` naming the field and the allowed set."""
    labels = _LOOKUP[field]
    if isinstance(value, str):
        key = _key(value)
        if key in labels:
            return labels[key]
        synonym = _SYNONYMS.get(key)
        if synonym is not None and _key(synonym) in labels:
            return labels[_key(synonym)]
    raise LabelError(f"{field} {value!r} is not one of: {', '.join(LABEL_SETS[field])}")

