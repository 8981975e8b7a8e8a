"""Choosing which of a model's rows to keep when there are more than a target or a category mix allows.

Rows are taken best-first: better input quality, then higher reward, then earlier samples, so the rows a night
already kept stay kept when a later round adds more, unless the new ones are better.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import polars as pl

from magpie_dagster.domain.curation.rules import ShareBounds
from magpie_dagster.domain.tagging.labels import INPUT_QUALITY

BEYOND_TARGET = "beyond_target"


def best_first(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows in the order they are kept when not all can be."""
    quality_rank = (
        pl.col("input_quality").replace_strict(INPUT_QUALITY, list(range(len(INPUT_QUALITY))), default=-1)
        if "input_quality" in frame.columns
        else pl.lit(-1)
    )
    reward = pl.col("instruct_reward") if "instruct_reward" in frame.columns else pl.lit(None, dtype=pl.Float64)
    order = pl.col("sample_index") if "sample_index" in frame.columns else pl.col("conversation_id")
    return (
        frame.with_columns(quality_rank.alias("_quality"), reward.alias("_reward"), order.alias("_order"))
        .sort(["_quality", "_reward", "_order"], descending=[True, True, False], nulls_last=True)
        .drop("_quality", "_reward", "_order")
    )


def share_fill(categories: Sequence[str | None], shares: Mapping[str, ShareBounds], cap: int | None) -> list[int]:
    """Positions (into `categories`, listed best-first) of the largest subset, at most `cap` rows, in which every
    category of `shares` is within its bounds: each category's minimum first, then the best rows under the caps."""
    available = Counter(categories)
    total = len(categories) if cap is None else min(cap, len(categories))
    for category, bounds in shares.items():
        if bounds.min > 0:
            total = min(total, math.floor(available[category] / bounds.min))
    while total > 0 and not _fits(total, available, shares):
        total -= 1
    if total <= 0:
        return []
    floors = {category: math.ceil(bounds.min * total) for category, bounds in shares.items()}
    ceilings = {category: math.floor(bounds.max * total) for category, bounds in shares.items()}
    chosen: list[int] = []
    taken: Counter = Counter()
    for position, category in enumerate(categories):
        if taken[category] < floors.get(category, 0):
            chosen.append(position)
            taken[category] += 1
    spare = total - len(chosen)
    picked = set(chosen)
    for position, category in enumerate(categories):
        if spare == 0:
            break
        if position not in picked and taken[category] < ceilings.get(category, total):
            chosen.append(position)
            taken[category] += 1
            spare -= 1
    return sorted(chosen)


def _fits(total: int, available: Counter, shares: Mapping[str, ShareBounds]) -> bool:
    floors = {category: math.ceil(bounds.min * total) for category, bounds in shares.items()}
    if sum(floors.values()) > total or any(
        available[category] < need or need > math.floor(shares[category].max * total)
        for category, need in floors.items()
    ):
        return False
    room = sum(
        min(count, math.floor(shares[category].max * total)) if category in shares else count
        for category, count in available.items()
    )
    return room >= total


def shares_reached(frame: pl.DataFrame, column: str = "task_category") -> dict[str, dict[str, float]]:
    """model -> category -> share of its rows (the category mix the subset reached)."""
    if frame.is_empty() or column not in frame.columns:
        return {}
    counts = frame.group_by("model", column).len()
    totals = frame.group_by("model").len().rename({"len": "_total"})
    reached: dict[str, dict[str, float]] = {}
    for row in counts.join(totals, on="model").sort("model", column, nulls_last=True).iter_rows(named=True):
        reached.setdefault(row["model"], {})[row[column] or "untagged"] = round(row["len"] / row["_total"], 4)
    return reached
