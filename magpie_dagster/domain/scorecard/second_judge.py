"""The second judge's opinions on a night's sample: the same tags, prompts and label sets as the first judge, on
rows the first judge labelled, so the two can be compared label for label."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.scorecard.agreement import sampled
from magpie_dagster.domain.scorecard.config import SecondJudge
from magpie_dagster.domain.tagging.evaluation import SCORED_FIELD
from magpie_dagster.domain.tagging.judge import JudgeItem, judge_items
from magpie_dagster.domain.tagging.tags import spec_with_prompt

# The judged tag -> the column naming the first judge's model (`instruction_tags`).
_JUDGE_COLUMNS = {
    "difficulty": "difficulty_generator", "quality": "quality_generator", "category": "task_category_generator",
}  # fmt: skip


def second_opinions(
    answered: pl.DataFrame,
    settings: SecondJudge,
    prompt_versions: Mapping[str, str],
    night: str,
    open_judge: Callable[[str, Any], GenerationEngine],
    done: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    """One row per (sampled instruction, tag) not in `done`, each tag asked with the first judge's prompt version
    (`prompt_versions`: tag -> version): the first judge's label and the second judge's (None
    when its answer did not parse: `status` failed, `error` says why). `open_judge(model, partition_date)`: the
    second judge's engine, metered to that partition."""
    instructions = answered.unique("instruction_id", keep="first", maintain_order=True)
    chosen = set(sampled(instructions["instruction_id"].to_list(), settings.sample, night))
    rows = instructions.filter(pl.col("instruction_id").is_in(list(chosen))).sort("instruction_id")
    opinions = []
    for (model, partition_date), group in rows.group_by(["model", "partition_date"], maintain_order=True):
        for tag, version in prompt_versions.items():
            column = SCORED_FIELD[tag]
            todo = [row for row in group.iter_rows(named=True) if (row["instruction_id"], tag) not in done]
            if not todo:
                continue
            items = [JudgeItem(row["instruction_id"], row["instruction"]) for row in todo]
            results = judge_items(
                open_judge(model, partition_date), items, spec_with_prompt(version),
                max_retries=settings.judge.max_retries,
                constrained=settings.judge.constrained,
            )  # fmt: skip
            opinions += [
                {
                    "conversation_id": row["instruction_id"],
                    "model": model,
                    "partition_date": partition_date,
                    "tag": tag,
                    "judge_model": row.get(_JUDGE_COLUMNS[tag]) or "",
                    "second_judge_model": settings.judge.model,
                    "prompt_version": version,
                    "first_label": row[column],
                    "second_label": result.columns[column] if result.ok else None,
                    "status": "ok" if result.ok else "failed",
                    "error": None if result.ok else result.error,
                }
                for row, result in zip(todo, results, strict=True)
            ]
    return opinions
