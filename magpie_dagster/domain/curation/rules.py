"""Curation rules as configuration: each one a pydantic model that names itself and filters a polars frame.

Rules run in order over the rows still kept; a row dropped by a rule records that rule's name, so
`SELECT drop_reason, count(*)` explains the subset. A rule whose column is missing or entirely null (no reward
model configured, say) is skipped, and the skip is reported with its reason instead of silently passing rows.
"""

from __future__ import annotations

from typing import Annotated, Literal

import polars as pl
from pydantic import Field, model_validator

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.tagging.labels import LABEL_SETS


class _Rule(Strict):
    def name(self) -> str:
        raise NotImplementedError

    def columns(self) -> tuple[str, ...]:
        raise NotImplementedError

    def skipped_because(self, missing: list[str]) -> str:
        """Why the rule was skipped, its columns `missing` (absent or entirely null)."""
        return f"no values in column(s) {', '.join(missing)}"


class MinLabel(_Rule):
    """input_quality >= average, difficulty >= medium: on the ordered label scales."""

    rule: Literal["min_label"]
    column: Literal["difficulty", "input_quality"]
    at_least: str

    @model_validator(mode="after")
    def _label_in_scale(self) -> MinLabel:
        if self.at_least not in LABEL_SETS[self.column]:
            raise ValueError(f"at_least {self.at_least!r} is not one of: {', '.join(LABEL_SETS[self.column])}")
        return self

    def name(self) -> str:
        return f"{self.column}>={self.at_least}"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self) -> pl.Expr:
        allowed = list(LABEL_SETS[self.column][LABEL_SETS[self.column].index(self.at_least) :])
        return pl.col(self.column).is_in(allowed)


class Above(_Rule):
    """A numeric column strictly above a value: reward > -12, min_neighbor_distance > 0."""

    rule: Literal["above"]
    column: str
    value: float

    def name(self) -> str:
        return f"{self.column}>{self.value:g}"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self) -> pl.Expr:
        return pl.col(self.column) > self.value


class FirstOfGroup(_Rule):
    """Keep one instruction per near-duplicate group: the one that is its own `min_similar_conversation_id` (with
    every answer to it, when several models answer)."""

    rule: Literal["first_of_group"]

    def name(self) -> str:
        return "not_first_of_near_duplicate_group"

    def columns(self) -> tuple[str, ...]:
        return ("min_similar_conversation_id",)

    def keep(self) -> pl.Expr:
        return pl.col("instruction_id") == pl.col("min_similar_conversation_id")


class NotEndingWith(_Rule):
    """Drop instructions ending with ':' (the model set up a list it never wrote)."""

    rule: Literal["not_ending_with"]
    column: str = "instruction"
    suffixes: tuple[str, ...] = (":",)

    def name(self) -> str:
        return f"{self.column}_ends_with_{'|'.join(self.suffixes)}"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self) -> pl.Expr:
        text = pl.col(self.column).str.strip_chars()
        ends = pl.any_horizontal([text.str.ends_with(suffix) for suffix in self.suffixes])
        return ~ends


class Length(_Rule):
    rule: Literal["length"]
    column: str = "response"
    min_chars: int = Field(0, ge=0)
    max_chars: int | None = Field(None, ge=1)

    def name(self) -> str:
        return f"{self.column}_length_{self.min_chars}-{self.max_chars or 'inf'}"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self) -> pl.Expr:
        length = pl.col(self.column).str.len_chars()
        keep = length >= self.min_chars
        return keep if self.max_chars is None else keep & (length <= self.max_chars)


class AllowValues(_Rule):
    """Keep rows whose column is one of the values (languages, categories); `exclude` inverts it."""

    rule: Literal["allow"]
    column: str
    values: tuple[str, ...] = Field(min_length=1)
    exclude: bool = False

    def name(self) -> str:
        return f"{self.column}_{'in' if self.exclude else 'not_in'}_{'|'.join(self.values)}"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self) -> pl.Expr:
        inside = pl.col(self.column).is_in(list(self.values))
        return ~inside if self.exclude else inside


class RequireReasoning(_Rule):
    """Keep rows whose answer follows a closed reasoning block (for reasoning models: a row without one skipped or
    never finished its thinking). Never skipped: a night without any reasoning keeps no row."""

    rule: Literal["require_reasoning"]

    def name(self) -> str:
        return "no_closed_reasoning"

    def columns(self) -> tuple[str, ...]:
        return ()

    def keep(self) -> pl.Expr:
        answered = pl.col("response").str.strip_chars().str.len_chars() > 0
        return pl.col("reasoning_closed").fill_null(False) & answered


class NotContaminated(_Rule):
    """Drop instructions that repeat a benchmark prompt (`benchmark_contamination`), found by any of `methods`.
    Skipped when no partition of the night was checked (no benchmark file in the catalogue)."""

    rule: Literal["not_contaminated"]
    methods: tuple[Literal["exact", "ngram", "embedding"], ...] = Field(("exact", "ngram", "embedding"), min_length=1)

    def name(self) -> str:
        return "benchmark_contamination"

    def columns(self) -> tuple[str, ...]:
        return ("contamination_checked",)

    def skipped_because(self, missing: list[str]) -> str:
        return "no benchmark checked: list benchmark prompt files in the catalogue's decontamination section"

    def keep(self) -> pl.Expr:
        found = pl.col("contamination_methods").list.eval(pl.element().is_in(list(self.methods))).list.any()
        return ~found.fill_null(False)


class CategoryCap(_Rule):
    """At most `per_category` rows per value of `column` (longest responses first), to balance categories."""

    rule: Literal["category_cap"]
    column: str = "task_category"
    per_category: int = Field(ge=1)

    def name(self) -> str:
        return f"over_{self.per_category}_per_{self.column}"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class ShareBounds(Strict):
    min: float = Field(0.0, ge=0.0, le=1.0)
    max: float = Field(1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> ShareBounds:
        if self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class CategoryShares(_Rule):
    """Each model's kept rows hold every listed category within its share (Math 10-20 %, Others at most 5 %):
    the largest such subset, filled best-first (`domain.curation.selection`); unlisted categories are free."""

    rule: Literal["category_shares"]
    column: str = "task_category"
    shares: dict[str, ShareBounds] = Field(min_length=1)

    @model_validator(mode="after")
    def _satisfiable(self) -> CategoryShares:
        if self.column == "task_category":
            unknown = sorted(set(self.shares) - set(LABEL_SETS["task_category"]))
            if unknown:
                raise ValueError(
                    f"unknown task categories {unknown}; use: {', '.join(LABEL_SETS['task_category'])}"
                )
        floor = sum(bounds.min for bounds in self.shares.values())
        if floor > 1.0:
            raise ValueError(f"the minimum shares add up to {floor:g}, more than 1")
        return self

    def name(self) -> str:
        return f"outside_{self.column}_shares"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class Longest(_Rule):
    """Keep the `keep` rows with the longest `column` (the paper keeps the 300K longest responses)."""

    rule: Literal["longest"]
    column: str = "response"
    keep: int = Field(ge=1)

    def name(self) -> str:
        return f"not_in_longest_{self.keep}"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class Shuffle(_Rule):
    """Order the subset by a seeded shuffle (the export order); drops nothing."""

    rule: Literal["shuffle"]
    seed: int = 42

    def name(self) -> str:
        return f"shuffle_{self.seed}"

    def columns(self) -> tuple[str, ...]:
        return ()


class NeedsUnavailable(_Rule):
    """A published rule this pipeline cannot compute (it names what it needs); always reported as skipped."""

    rule: Literal["unavailable"]
    description: str
    needs: str

    def name(self) -> str:
        return self.description

    def columns(self) -> tuple[str, ...]:
        return ()


Rule = Annotated[
    MinLabel
    | Above
    | FirstOfGroup
    | NotEndingWith
    | Length
    | AllowValues
    | RequireReasoning
    | NotContaminated
    | CategoryCap
    | CategoryShares
    | Longest
    | Shuffle
    | NeedsUnavailable,
    Field(discriminator="rule"),
]
ROW_FILTERS = (MinLabel, Above, FirstOfGroup, NotEndingWith, Length, AllowValues, RequireReasoning, NotContaminated)
