"""Applying a recipe: rules in order, first dropping rule recorded per row, skipped rules reported.

Works on a polars frame of tagged, deduplicated rows and stays vectorised (1M rows in about a second): row
filters are one expression each; selection rules rank the rows still kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import polars as pl
from pydantic import Field

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.curation.rules import (
    ROW_FILTERS,
    CategoryCap,
    CategoryShares,
    Longest,
    NeedsUnavailable,
    Rule,
    ShareBounds,
    Shuffle,
)
from magpie_dagster.domain.curation.selection import BEYOND_TARGET, best_first, share_fill

DROP_REASON = "drop_reason"
SUBSET_RANK = "subset_rank"


class Recipe(Strict):
    name: str = Field(min_length=1)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @property
    def task_category_shares(self) -> dict[str, ShareBounds]:
        """The task category mix the recipe asks for (empty: none); rounds steer toward it."""
        for rule in self.rules:
            if isinstance(rule, CategoryShares) and rule.column == "task_category":
                return dict(rule.shares)
        return {}


@dataclass
class CurationResult:
    rows: pl.DataFrame  # every input row, with `drop_reason` (null: kept) and `subset_rank` (export order)
    skipped: dict[str, str] = field(default_factory=dict)  # rule name -> why it was skipped

    @property
    def kept(self) -> pl.DataFrame:
        return self.rows.filter(pl.col(DROP_REASON).is_null()).sort(SUBSET_RANK)

    def drop_counts(self) -> dict[str, int]:
        counts = self.rows.group_by(DROP_REASON).len()
        return {row[DROP_REASON] or "kept": row["len"] for row in counts.iter_rows(named=True)}


def apply_recipe(recipe: Recipe, rows: pl.DataFrame, targets: Mapping[str, int] | None = None) -> CurationResult:
    """`targets`: model -> the most rows to keep of it (its night's row target), the best ones."""
    targets = targets or {}
    frame = rows.with_columns(pl.lit(None, dtype=pl.Utf8).alias(DROP_REASON))
    if "instruction_id" not in frame.columns:  # one answer per instruction: the row is the instruction's
        frame = frame.with_columns(pl.col("conversation_id").alias("instruction_id"))
    skipped: dict[str, str] = {}
    shuffle_seed: int | None = None
    for rule in recipe.rules:
        if isinstance(rule, NeedsUnavailable):
            skipped[rule.name()] = f"needs {rule.needs}"
            continue
        missing = _unusable_columns(frame, rule.columns())
        if missing:
            skipped[rule.name()] = rule.skipped_because(missing)
            continue
        alive = pl.col(DROP_REASON).is_null()
        if isinstance(rule, ROW_FILTERS):
            failing = alive & ~rule.keep().fill_null(False)
            frame = frame.with_columns(
                pl.when(failing).then(pl.lit(rule.name())).otherwise(pl.col(DROP_REASON)).alias(DROP_REASON)
            )
        elif isinstance(rule, (Longest, CategoryCap)):
            frame = _select(frame, rule)
        elif isinstance(rule, CategoryShares):
            frame = _drop_unchosen(frame, rule.name(), partial(_share_choice, rule=rule, targets=targets))
        elif isinstance(rule, Shuffle):
            shuffle_seed = rule.seed
    if targets:
        frame = _drop_unchosen(frame, BEYOND_TARGET, lambda model, alive: alive.head(targets.get(model, len(alive))))
    return CurationResult(_ranked(frame, shuffle_seed), skipped)


def _share_choice(model: str, alive: pl.DataFrame, rule: CategoryShares, targets: Mapping[str, int]) -> pl.DataFrame:
    chosen = share_fill(alive[rule.column].to_list(), rule.shares, targets.get(model))
    return alive[chosen]


def _drop_unchosen(frame: pl.DataFrame, reason: str, choose) -> pl.DataFrame:
    """Per model, `choose(model, its kept rows best-first)` returns the rows to keep; the rest get `reason`."""
    alive = best_first(frame.filter(pl.col(DROP_REASON).is_null()))
    chosen = [
        choose(model, group)["conversation_id"]
        for (model,), group in alive.group_by("model", maintain_order=True)
    ]
    keep = pl.concat(chosen) if chosen else pl.Series("conversation_id", [], dtype=pl.Utf8)
    return frame.with_columns(
        pl.when(pl.col(DROP_REASON).is_null() & ~pl.col("conversation_id").is_in(keep.implode()))
        .then(pl.lit(reason))
        .otherwise(pl.col(DROP_REASON))
        .alias(DROP_REASON)
    )


def _unusable_columns(frame: pl.DataFrame, columns: tuple[str, ...]) -> list[str]:
    return [column for column in columns if column not in frame.columns or frame[column].null_count() == len(frame)]


def _select(frame: pl.DataFrame, rule: Longest | CategoryCap) -> pl.DataFrame:
    """Ranks the rows still kept (longest first, ties by conversation id) and drops those past the limit."""
    length_column = rule.column if isinstance(rule, Longest) else "response"
    length = pl.col(length_column).str.len_chars() if length_column in frame.columns else pl.lit(0)
    alive = frame.filter(pl.col(DROP_REASON).is_null()).with_columns(length.alias("_length"))
    ranked = alive.sort(["_length", "conversation_id"], descending=[True, False])
    if isinstance(rule, Longest):
        over = ranked.slice(rule.keep)["conversation_id"]
    else:
        ranked = ranked.with_columns(pl.int_range(pl.len()).over(rule.column).alias("_in_group"))
        over = ranked.filter(pl.col("_in_group") >= rule.per_category)["conversation_id"]
    return frame.with_columns(
        pl.when(pl.col("conversation_id").is_in(over.implode()) & pl.col(DROP_REASON).is_null())
        .then(pl.lit(rule.name()))
        .otherwise(pl.col(DROP_REASON))
        .alias(DROP_REASON)
    )


def _ranked(frame: pl.DataFrame, shuffle_seed: int | None) -> pl.DataFrame:
    """`subset_rank` orders the kept rows: a seeded shuffle when the recipe asks, corpus order otherwise."""
    order = ["partition_date", "model", "conversation_id"]
    frame = frame.sort([column for column in order if column in frame.columns])
    kept = frame[DROP_REASON].is_null()
    ranks = pl.Series(SUBSET_RANK, [None] * len(frame), dtype=pl.Int64)
    kept_positions = kept.arg_true()
    if shuffle_seed is not None:
        kept_positions = kept_positions.shuffle(seed=shuffle_seed)
    ranks = ranks.scatter(kept_positions, pl.int_range(len(kept_positions), eager=True))
    return frame.with_columns(ranks)
