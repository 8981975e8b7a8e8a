"""A night's scorecard rows, one per model and one for the night's totals, from what the stages stored.

Pure: the storage layer hands in one frame per source, already limited to the night and the catalogue's models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from magpie_dagster.domain.curation.rules import ShareBounds
from magpie_dagster.domain.scorecard.agreement import agreement, tag_kappa
from magpie_dagster.domain.scorecard.measures import entropy_bits, mix_distance, shares, vendi_score
from magpie_dagster.domain.scorecard.metrics import ALL_MODELS
from magpie_dagster.domain.tagging.checks import degenerate_labels
from magpie_dagster.domain.tagging.evaluation import SCORED_FIELD
from magpie_dagster.domain.tagging.labels import LABEL_SETS

_SHARED_COLUMNS = ("task_category", "difficulty", "input_quality", "language")


@dataclass(frozen=True)
class NightFacts:
    """What the night stored, one frame each, every frame with a `model` column."""

    generated: pl.DataFrame  # model, stage ('instruction' | 'response'), drop_reason: one row per generated row
    judgements: pl.DataFrame  # model, tag, status: one row per judgement
    duplicates: pl.DataFrame  # model, within_night, against_corpus: one row per usable instruction deduplicated
    answered: pl.DataFrame  # every answered usable row with its tags (curation's input)
    curated: pl.DataFrame  # the curated subset: model, instruction_id, instruction, response and the tags
    pairs: pl.DataFrame  # preference pairs: model, chosen, rejected (message lists)
    second_opinions: pl.DataFrame  # model, tag, first_label, second_label, status: the second judge's sample
    held_out: pl.DataFrame  # model, field, accuracy, constant_accuracy: the night's taggers' held-out scores


def scorecard_rows(
    facts: NightFacts,
    models: Sequence[str],
    embeddings: Mapping[str, np.ndarray],
    category_bounds: Mapping[str, ShareBounds],
    max_label_share: float,
) -> list[dict[str, Any]]:
    """One row per model, then the totals (`model` = '*'). `embeddings`: the curated instructions' stored vectors
    by instruction id, for the diversity score."""
    rows = []
    for model in [*models, ALL_MODELS]:
        mine = facts if model == ALL_MODELS else _of_model(facts, model)
        rows.append({"model": model, **_measures(mine, embeddings, category_bounds, max_label_share)})
    return rows


def _of_model(facts: NightFacts, model: str) -> NightFacts:
    return NightFacts(*(frame.filter(pl.col("model") == model) for frame in _frames(facts)))


def _frames(facts: NightFacts) -> tuple[pl.DataFrame, ...]:
    return (
        facts.generated, facts.judgements, facts.duplicates, facts.answered, facts.curated, facts.pairs,
        facts.second_opinions, facts.held_out,
    )  # fmt: skip


def _measures(facts, embeddings, category_bounds, max_label_share) -> dict[str, Any]:
    instructions = facts.generated.filter(pl.col("stage") == "instruction")
    curated = facts.curated
    categories = _counts(curated, "task_category")
    label_counts = {column: _counts(facts.answered, column) for column in LABEL_SETS}
    agreements, kappas = _two_judges(facts.second_opinions)
    contamination_rate, by_benchmark = _contamination(facts.answered)
    return {
        "instructions": instructions.height,
        "usable_rate": _share(instructions, pl.col("drop_reason").is_null()),
        "template_leak_rate": _share(instructions, pl.col("drop_reason") == "template_echo"),
        "looping_rate": _share(facts.generated, pl.col("drop_reason") == "looping"),
        "truncation_rate": _share(facts.generated, pl.col("drop_reason") == "truncated"),
        "near_duplicate_rate": _share(facts.duplicates, pl.col("within_night")),
        "corpus_duplicate_rate": _share(facts.duplicates, pl.col("against_corpus")),
        "curated_rows": curated.height,
        "diversity_vendi": _rounded(vendi_score(_vectors(embeddings, curated["instruction_id"].unique().to_list()))),
        "category_entropy": _rounded(entropy_bits(categories)),
        "category_mix_distance": mix_distance(shares(categories), category_bounds) if curated.height else None,
        "contamination_rate": contamination_rate,
        "judge_failure_rate": _share(facts.judgements, pl.col("status") != "ok"),
        "safety_flag_rate": _share(facts.answered.filter(pl.col("safety").is_not_null()), pl.col("safety") == "unsafe"),
        "chosen_longer_share": _chosen_longer_share(facts.pairs),
        "judge_kappa_min": min(kappas.values(), default=None),
        "instruction_chars_median": _median_chars(curated, "instruction"),
        "response_chars_median": _median_chars(curated, "response"),
        "instruction_drop_reasons": _counts(instructions, "drop_reason"),
        "response_drop_reasons": _counts(facts.generated.filter(pl.col("stage") == "response"), "drop_reason"),
        **{f"{column}_shares": shares(_counts(curated, column)) for column in _SHARED_COLUMNS},
        "contamination_by_benchmark": by_benchmark,
        "judge_failure_rates": _failure_rates(facts.judgements),
        "top_label_shares": {
            column: round(max(counts.values()) / sum(counts.values()), 4)
            for column, counts in label_counts.items()
            if counts
        },
        **_held_out(facts.held_out),
        "judge_agreement": agreements,
        "judge_kappa": kappas,
        "degenerate_tags": sorted(degenerate_labels(label_counts, max_label_share)),
    }


def _two_judges(opinions: pl.DataFrame) -> tuple[dict[str, float], dict[str, float]]:
    """Per tag, over the sampled rows both judges labelled: the share of equal labels, and Cohen's kappa (left out
    where it is undefined: one label throughout)."""
    agreements, kappas = {}, {}
    both = opinions.filter(pl.col("first_label").is_not_null() & pl.col("second_label").is_not_null())
    for tag in sorted(set(both["tag"].to_list()) if both.height else ()):
        pairs = list(both.filter(pl.col("tag") == tag).select("first_label", "second_label").iter_rows())
        agreements[tag] = agreement(pairs)
        kappa = tag_kappa(SCORED_FIELD[tag], pairs)
        if kappa is not None:
            kappas[tag] = kappa
    return agreements, kappas


def _held_out(scores: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Per tag column, the held-out accuracy of the night's tagger and the constant's beside it; where taggers of
    several versions labelled the night, the lowest."""
    if scores.is_empty():
        return {"tagger_held_out_accuracy": {}, "tagger_constant_accuracy": {}}
    worst = scores.sort("accuracy").unique("field", keep="first").sort("field")
    return {
        "tagger_held_out_accuracy": dict(zip(worst["field"], worst["accuracy"], strict=True)),
        "tagger_constant_accuracy": dict(zip(worst["field"], worst["constant_accuracy"], strict=True)),
    }


def _contamination(answered: pl.DataFrame) -> tuple[float | None, dict[str, int]]:
    """Over the answered instructions whose partition was checked against benchmarks: the share that repeats a
    prompt, and benchmark -> instructions repeating one of its prompts."""
    if answered.is_empty() or "contamination_checked" not in answered.columns:
        return None, {}
    checked = answered.filter(pl.col("contamination_checked").fill_null(False)).unique("instruction_id")
    if checked.is_empty():
        return None, {}
    benchmarks = checked.select(pl.col("contaminated_by").str.split(",").explode().alias("benchmark"))
    return _share(checked, pl.col("contaminated_by").is_not_null()), _counts(benchmarks, "benchmark")


def _vectors(embeddings: Mapping[str, np.ndarray], ids: Sequence[str]) -> np.ndarray:
    found = [embeddings[row_id] for row_id in ids if row_id in embeddings]
    return np.stack(found) if found else np.zeros((0, 0), dtype=np.float32)


def _share(frame: pl.DataFrame, condition: pl.Expr) -> float | None:
    if frame.is_empty():
        return None
    return round(frame.select(condition.fill_null(False).mean()).item(), 4)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """label -> rows; rows without a label are left out (a drop reason's null is "usable", a tag's "not judged")."""
    if frame.is_empty() or column not in frame.columns:
        return {}
    return {str(label): count for label, count in frame.get_column(column).drop_nulls().value_counts().iter_rows()}


def _failure_rates(judgements: pl.DataFrame) -> dict[str, float]:
    if judgements.is_empty():
        return {}
    rates = judgements.group_by("tag").agg((pl.col("status") != "ok").mean().alias("failed")).sort("tag")
    return {tag: round(failed, 4) for tag, failed in rates.iter_rows()}


def _median_chars(frame: pl.DataFrame, column: str) -> float | None:
    if frame.is_empty() or column not in frame.columns:
        return None
    median = frame.get_column(column).str.len_chars().median()
    return None if median is None else float(median)


def _chosen_longer_share(pairs: pl.DataFrame) -> float | None:
    """Judges prefer longer answers; a share far above 0.5 says the reward follows length more than quality."""
    if pairs.is_empty():
        return None
    lengths = pairs.select(
        pl.col("chosen").list.last().struct.field("content").str.len_chars().alias("chosen"),
        pl.col("rejected").list.last().struct.field("content").str.len_chars().alias("rejected"),
    )
    return round(lengths.select((pl.col("chosen") > pl.col("rejected")).mean()).item(), 4)
