"""Resuming a generation stage: only the samples whose stored row is missing or stale are generated.

A sample whose stored row has the fingerprint it would be generated with now is kept; the rest are generated in
batches, each stored in place of the rows it replaces; rows no longer wanted are removed last, so a run that fails
changes nothing it did not replace. The warehouse is reached through `GeneratedRows` (storage passes its
functions in), so this module knows no SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.generation.probe import ProbeReport
from magpie_dagster.domain.generation.progress import GenerationProgress
from magpie_dagster.domain.generation.responses import KeptInstruction
from magpie_dagster.domain.generation.sampling_plan import PlannedSample
from magpie_dagster.domain.streaming import BatchWriter

PREVIEW_ROWS = 5


@dataclass(frozen=True)
class GenerationStage:
    """What one generation asset makes of a partition: its samples, the fingerprint each should be stored with,
    how to generate a batch of them and store it."""

    table: str
    model_key: str
    night: dt.date
    samples: Sequence[PlannedSample | KeptInstruction]
    wanted: dict[str, str]  # conversation id -> fingerprint
    generate: Callable[[list], Iterable[list]]
    to_row: Callable[[object], dict]
    preview_columns: list[str]
    engine: GenerationEngine
    key: Callable[[object], str] = lambda sample: sample.conversation_id  # the stored row's id of a sample
    probe: Callable[[list], ProbeReport] | None = None
    """Judges a new partition's first records before they are stored (see `domain.generation.probe`)."""
    probe_samples: int = 0


@dataclass(frozen=True)
class GeneratedRows:
    """The partition's stored rows of one table, as storage reads and writes them."""

    stored_fingerprints: Callable[[], dict[str, str]]
    replace_batch: Callable[[list[dict]], Any]
    remove_all_but: Callable[[Collection[str]], int]
    drop_reasons: Callable[[], dict[str, int]]


class ProbeFailed(RuntimeError):
    """The template probe judged a new partition's first samples wrong; nothing of them was stored."""

    def __init__(self, report: ProbeReport):
        super().__init__(report.render())
        self.report = report


@dataclass
class Resumed:
    progress: GenerationProgress
    planned: int
    removed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # drop reason -> rows after the run, usable as `kept`
    preview: list[dict] = field(default_factory=list)
    probe: ProbeReport | None = None

    def summary(self, stages: Sequence[GenerationStage]) -> dict[str, Any]:
        """Rows of the partition after the run (kept and drop reasons), and what this run generated and reused."""
        progress = self.progress
        return {
            "rows": self.planned,
            "generated": progress.done,
            "reused": self.planned - progress.total,
            "removed": self.removed,
            "prompt_tokens": progress.prompt_tokens,
            "completion_tokens": progress.completion_tokens,
            "tokens_per_s": round(progress.tokens_per_s, 2),
            "seconds": round(progress.elapsed_s, 2),
            "kept": self.outcomes.get("kept", 0),
            "drop_reasons": {reason: n for reason, n in self.outcomes.items() if reason != "kept"},
            "engine": ", ".join(dict.fromkeys(stage.engine.engine_name for stage in stages)),
            "generator": ", ".join(dict.fromkeys(stage.engine.model_name for stage in stages)),
            "table": stages[0].table,
        }


def resume(
    stages: Sequence[GenerationStage],
    rows: GeneratedRows,
    fresh: bool,
    on_batch: Callable[[GenerationProgress], None] = lambda progress: None,
) -> Resumed:
    """Generates the samples whose stored row is missing or stale (all of them if `fresh`); `on_batch` hears the
    progress as batches are stored. Raises ProbeFailed when a new partition's template probe fails."""
    stored = rows.stored_fingerprints()
    todos = [
        [sample for sample in stage.samples if fresh or stored.get(key := stage.key(sample)) != stage.wanted[key]]
        for stage in stages
    ]
    wanted = {key for stage in stages for key in stage.wanted}
    result = Resumed(GenerationProgress(total=sum(len(todo) for todo in todos)), planned=len(wanted))

    def store(item: tuple[GenerationStage, list]) -> None:
        stage, batch = item
        batch_rows = [stage.to_row(record) for record in batch]
        rows.replace_batch(batch_rows)
        for record in batch:
            result.progress.record(record.prompt_tokens, record.completion_tokens, record.drop_reason)
        result.preview.extend(batch_rows[: PREVIEW_ROWS - len(result.preview)])

    # Batches commit on the writer's thread while the engine decodes the next ones; progress is reported here, on
    # the caller's thread, as the writer's count of stored rows stands.
    with BatchWriter(store) as writer:
        for stage, todo in zip(stages, todos, strict=True):
            if stage.probe is not None and todo and not stored:
                result.probe, records = _probe(stage, todo[: stage.probe_samples])
                writer.put((stage, records))
                todo = todo[stage.probe_samples :]
            for batch in stage.generate(todo):
                writer.put((stage, batch))
                on_batch(result.progress)
    on_batch(result.progress)
    result.removed = rows.remove_all_but(wanted)
    result.outcomes = rows.drop_reasons()
    return result


def _probe(stage: GenerationStage, first: list) -> tuple[ProbeReport, list]:
    """Generates a new partition's first samples; they are stored only when the template probe passes.

    They are the partition's own first samples, so a passing probe costs nothing; a failing one stores nothing
    and is not retried (a wrong template does not fix itself).
    """
    records = [record for batch in stage.generate(first) for record in batch]
    report = stage.probe(records)
    if not report.passed:
        raise ProbeFailed(report)
    return report, records
