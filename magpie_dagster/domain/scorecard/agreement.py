"""How far two judges agree on the same rows: the share of equal labels and Cohen's kappa (agreement beyond what
the two judges' label frequencies give by chance), quadratic-weighted for ordinal tags, so that "easy" against
"very easy" costs less than "easy" against "very hard"."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from magpie_dagster.domain.tagging.evaluation import ORDINAL_FIELDS, cohen_kappa
from magpie_dagster.domain.tagging.labels import LABEL_SETS


def agreement(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Share of (first, second) label pairs that are equal."""
    if not pairs:
        return None
    return round(sum(first == second for first, second in pairs) / len(pairs), 4)


def tag_kappa(column: str, pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of a tag's label pairs, quadratic-weighted for the ordinal tags."""
    kappa = cohen_kappa(pairs, LABEL_SETS[column], quadratic=column in ORDINAL_FIELDS)
    return None if kappa is None else round(kappa, 4)


def sampled(ids: Sequence[str], size: int, night: str) -> list[str]:
    """A night's sample of row ids: the same ids whenever the night is scored again, a fresh draw each night."""
    return sorted(ids, key=lambda row_id: hashlib.sha256(f"{night}|{row_id}".encode()).hexdigest())[:size]
