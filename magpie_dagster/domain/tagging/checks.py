"""Pure validators behind the tagging asset checks (unit-tested without Dagster)."""

from __future__ import annotations

from collections.abc import Mapping

from magpie_dagster.domain.tagging.labels import LABEL_SETS

SAFETY_VERDICTS = ("safe", "unsafe")
# Below this many judged rows one label's share says nothing about the judge.
MIN_ROWS_FOR_DEGENERACY = 10


def failure_rates_over(outcomes: Mapping[str, Mapping[str, int]], thresholds: Mapping[str, float]) -> dict[str, float]:
    """Tags whose share of failed judgements exceeds their threshold, with that share."""
    over = {}
    for tag, counts in outcomes.items():
        total = counts.get("ok", 0) + counts.get("failed", 0)
        rate = counts.get("failed", 0) / total if total else 0.0
        if rate > thresholds.get(tag, 1.0):
            over[tag] = round(rate, 4)
    return over


def labels_outside_sets(label_counts: Mapping[str, Mapping[str | None, int]]) -> dict[str, list[str]]:
    """Stored labels that are not in their tag's set (None means not judged and is allowed)."""
    allowed = {**LABEL_SETS, "safety": SAFETY_VERDICTS}
    problems = {}
    for column, counts in label_counts.items():
        if column not in allowed:
            continue
        bad = sorted(str(label) for label in counts if label is not None and label not in allowed[column])
        if bad:
            problems[column] = bad
    return problems


def degenerate_labels(
    label_counts: Mapping[str, Mapping[str | None, int]], max_share: float, min_rows: int = MIN_ROWS_FOR_DEGENERACY
) -> dict[str, dict[str, object]]:
    """Judged tags (difficulty, input_quality, task_category) where one label covers at least `max_share` of the
    judged rows: a judge that answers the same whatever it reads. Language and safety are left out: one language,
    or "safe" nearly everywhere, is what a healthy night often looks like."""
    degenerate = {}
    for column in LABEL_SETS:
        counts = {label: n for label, n in label_counts.get(column, {}).items() if label is not None}
        total = sum(counts.values())
        if total < min_rows:
            continue
        label, top = max(counts.items(), key=lambda item: item[1])
        if top / total >= max_share:
            degenerate[column] = {"label": label, "share": round(top / total, 4), "rows": total}
    return degenerate


def label_rows(labels: Mapping[str, Mapping[str | None, int]]) -> list[dict[str, str | int]]:
    """column -> label -> rows, as table rows (untagged rows left out)."""
    return [
        {"column": column, "label": label, "rows": count}
        for column, counts in labels.items()
        for label, count in counts.items()
        if label is not None
    ]
