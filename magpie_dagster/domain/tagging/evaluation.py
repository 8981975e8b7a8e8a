"""How often a judge is right: its labels against a hand-labelled set, beside what a constant label would score.

A judge that answers "easy" to everything is "within one step" most of the time on most sets, so every figure
comes with the best constant label's figure, and the ordinal tags also get quadratic-weighted kappa (0 for any
constant answer, 1 for perfect agreement). A failed judgement counts as wrong in the accuracies and is left out
of kappa and the confusion table's label columns (it has its own column).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from magpie_dagster.domain.completion import GenerationEngine, SamplingParams
from magpie_dagster.domain.tagging.judge import DEFAULT_JUDGE_SAMPLING, JudgeItem, judge_items
from magpie_dagster.domain.tagging.labels import LABEL_SETS, LabelError, normalise_label
from magpie_dagster.domain.tagging.tags import spec_with_prompt

# The column each judged tag is scored on.
SCORED_FIELD = {"difficulty": "difficulty", "quality": "input_quality", "category": "task_category"}
ORDINAL_FIELDS = frozenset({"difficulty", "input_quality"})
FAILED = "(failed)"


class EvalSetError(ValueError):
    """The hand-labelled set is malformed: the message names the file, line and field."""


@dataclass(frozen=True)
class LabelledInstruction:
    id: str
    instruction: str
    labels: dict[str, str]
    """Gold label per scored field: task_category, difficulty, input_quality."""


@dataclass(frozen=True)
class TagScore:
    tag: str
    field: str
    prompt_version: str
    judge_model: str
    labels: tuple[str, ...]
    rows: int
    failed: int
    accuracy: float
    baseline_label: str
    baseline_accuracy: float
    within_one: float | None
    baseline_within_one: float | None
    kappa: float | None
    confusion: tuple[tuple[int, ...], ...]
    """Rows: gold labels in `labels` order; columns: predicted labels, then failed judgements."""
    seconds: float = 0.0
    """Wall time of the judging, retries included."""


@dataclass(frozen=True)
class LabelledSet:
    """A labelled set as a tagger learns from it: its rows and the fingerprint of its file's bytes (a new or edited
    file re-tags the rows the classifier tagged)."""

    items: tuple[LabelledInstruction, ...]
    fingerprint: str
    path: Path


def packaged_eval_set_path() -> Path:
    return Path(str(resources.files("magpie_dagster.domain.tagging") / "eval_set.jsonl"))


def load_labelled_set(labels: str, folder: Path) -> LabelledSet:
    """`labels`: `packaged`, or a JSON-lines file (relative paths start in `folder`, the catalogue's)."""
    path = packaged_eval_set_path() if labels == "packaged" else folder / labels
    if not path.is_file():
        raise EvalSetError(
            f"{path} is not a file. Use `packaged` (the project's 72 labelled "
            "instructions) or a JSON-lines file with id, instruction, task_category, difficulty, input_quality."
        )
    items = load_eval_set(path)
    fingerprint = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return LabelledSet(tuple(items), fingerprint, path)


def load_eval_set(path: Path | None = None) -> list[LabelledInstruction]:
    """The hand-labelled instructions (JSON lines: id, instruction, task_category, difficulty, input_quality)."""
    path = path or packaged_eval_set_path()
    items: list[LabelledInstruction] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise EvalSetError(f"{where}: not a JSON object ({error.msg})") from error
        if not isinstance(record, dict):
            raise EvalSetError(f"{where}: not a JSON object")
        for field in ("id", "instruction", *LABEL_SETS):
            if not isinstance(record.get(field), str) or not record[field].strip():
                raise EvalSetError(f"{where}: field {field!r} is missing or empty")
        if record["id"] in seen:
            raise EvalSetError(f"{where}: id {record['id']!r} appears twice")
        seen.add(record["id"])
        try:
            labels = {field: normalise_label(field, record[field]) for field in LABEL_SETS}
        except LabelError as error:
            raise EvalSetError(f"{where}: {error}") from error
        items.append(LabelledInstruction(id=record["id"], instruction=record["instruction"], labels=labels))
    if not items:
        raise EvalSetError(f"{path}: no labelled instructions")
    return items


def evaluate_judge(
    engine: GenerationEngine,
    items: Sequence[LabelledInstruction],
    versions: Sequence[str],
    *,
    max_retries: int = 2,
    sampling: SamplingParams = DEFAULT_JUDGE_SAMPLING,
    constrained: bool = True,
) -> list[TagScore]:
    """Judges every item with each prompt version and scores the answers against the gold labels."""
    scores = []
    judge_inputs = [JudgeItem(conversation_id=item.id, instruction=item.instruction) for item in items]
    for version in versions:
        spec = spec_with_prompt(version)
        started = time.perf_counter()
        results = judge_items(
            engine, judge_inputs, spec, max_retries=max_retries, sampling=sampling, constrained=constrained
        )
        field = SCORED_FIELD[spec.name]
        predicted = [result.columns[field] if result.columns else None for result in results]
        gold = [item.labels[field] for item in items]
        score = score_labels(spec.name, field, version, engine.model_name, gold, predicted)
        scores.append(replace(score, seconds=time.perf_counter() - started))
    return scores


def score_labels(
    tag: str, field: str, version: str, judge_model: str, gold: Sequence[str], predicted: Sequence[str | None]
) -> TagScore:
    labels = LABEL_SETS[field]
    ordinal = field in ORDINAL_FIELDS
    baseline_label, baseline_hits = Counter(gold).most_common(1)[0]
    rows = len(gold)
    return TagScore(
        tag=tag,
        field=field,
        prompt_version=version,
        judge_model=judge_model,
        labels=labels,
        rows=rows,
        failed=sum(label is None for label in predicted),
        accuracy=sum(g == p for g, p in zip(gold, predicted, strict=True)) / rows,
        baseline_label=baseline_label,
        baseline_accuracy=baseline_hits / rows,
        within_one=within_one(gold, predicted, labels) if ordinal else None,
        baseline_within_one=best_constant_within_one(gold, labels) if ordinal else None,
        kappa=quadratic_weighted_kappa(gold, predicted, labels) if ordinal else None,
        confusion=confusion_matrix(gold, predicted, labels),
    )


def within_one(gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> float:
    """Share of rows whose label is at most one step from the gold one (failed rows count as misses)."""
    rank = {label: position for position, label in enumerate(labels)}
    hits = sum(p is not None and abs(rank[g] - rank[p]) <= 1 for g, p in zip(gold, predicted, strict=True))
    return hits / len(gold)


def best_constant_within_one(gold: Sequence[str], labels: Sequence[str]) -> float:
    return max(within_one(gold, [label] * len(gold), labels) for label in labels)


def quadratic_weighted_kappa(gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> float:
    """Cohen's kappa with quadratic weights over the rows the judge answered; 0.0 when it is undefined."""
    pairs = [(g, p) for g, p in zip(gold, predicted, strict=True) if p is not None]
    kappa = cohen_kappa(pairs, labels, quadratic=True)
    return 0.0 if kappa is None else kappa


def cohen_kappa(pairs: Sequence[tuple[str, str]], labels: Sequence[str], quadratic: bool) -> float | None:
    """1 - observed disagreement / disagreement expected by chance, with weights 0/1 (nominal) or
    ((i - j) / (k - 1))^2 (quadratic, labels in order; Cohen 1968). 1: perfect; 0: chance or a constant rater;
    below 0: worse than chance. None without pairs, or when chance disagreement is 0 (one label throughout)."""
    rank = {label: position for position, label in enumerate(labels)}
    ranked = [(rank[a], rank[b]) for a, b in pairs]
    size, count = len(labels), len(ranked)
    if count == 0 or size < 2:
        return None
    observed = Counter(ranked)
    first_totals = Counter(a for a, _ in ranked)
    second_totals = Counter(b for _, b in ranked)
    disagreement = expected = 0.0
    for i in range(size):
        for j in range(size):
            weight = (i - j) ** 2 / (size - 1) ** 2 if quadratic else float(i != j)
            disagreement += weight * observed[(i, j)]
            expected += weight * first_totals[i] * second_totals[j] / count
    return 1.0 - disagreement / expected if expected else None


def confusion_matrix(
    gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]
) -> tuple[tuple[int, ...], ...]:
    columns = {label: position for position, label in enumerate(labels)}
    counts = Counter((g, columns[p] if p is not None else len(labels)) for g, p in zip(gold, predicted, strict=True))
    return tuple(tuple(counts[(label, column)] for column in range(len(labels) + 1)) for label in labels)
