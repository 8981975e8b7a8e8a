"""The dataset card: what the export holds, in counts a reader checks before training, and one figure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from magpie_dagster.domain.exports.lineage import Lineage, card_header
from magpie_dagster.domain.scorecard.metrics import ALL_MODELS, TRENDED
from magpie_dagster.domain.tagging.checks import degenerate_labels
from magpie_dagster.domain.tagging.labels import LABEL_SETS

CARD = "README.md"
FIGURE = "distributions.png"
_DISTRIBUTIONS = ("model", "task_category", "difficulty", "input_quality", "language")


def _counts(frame: pl.DataFrame, column: str) -> list[tuple[str, int]]:
    if column not in frame.columns or frame.is_empty():
        return []
    counts = frame.group_by(column).len().sort(["len", column], descending=[True, False])
    return [("(none)" if value is None else str(value), count) for value, count in counts.iter_rows()]


def _table(title: str, counts: list[tuple[str, int]]) -> str:
    if not counts:
        return f"### {title}\n\n(no values)\n"
    lines = [
        f"### {title}",
        "",
        "| value | rows |",
        "|---|---|",
        *(f"| {value} | {count} |" for value, count in counts),
    ]
    return "\n".join(lines) + "\n"


def _label_health(corpus: pl.DataFrame, max_label_share: float) -> str:
    """Which judged tags put one label on nearly every row of the night (the tagging asset's warning check)."""
    counts = {
        column: dict(corpus.get_column(column).value_counts().iter_rows())
        for column in LABEL_SETS
        if column in corpus.columns
    }
    degenerate = degenerate_labels(counts, max_label_share)
    if not degenerate:
        return f"### Label health\n\nNo judged tag puts one label on {max_label_share:.0%} or more of the rows.\n"
    lines = [
        f"- `{column}`: {found['label']!r} on {found['share']:.0%} of {found['rows']} rows"
        for column, found in degenerate.items()
    ]
    return (
        "### Label health\n\nDegenerate labels (one label on "
        f"{max_label_share:.0%} or more of the rows; the judge may not be reading the instructions):\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _scorecard(rows: Sequence[Mapping[str, object]]) -> str:
    """The night's scorecard (table `night_scorecard`): a row per number, a column per model and the night."""
    if not rows:
        return "### Scorecard\n\n(not computed for this night)\n"
    names = ["night" if row["model"] == ALL_MODELS else str(row["model"]) for row in rows]
    lines = [
        "### Scorecard",
        "",
        "| measure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(rows),
        *(f"| {metric} | " + " | ".join(_number(row.get(metric)) for row in rows) + " |" for metric in TRENDED),
    ]
    return "\n".join(lines) + "\n"


def _night_totals(scorecard: Sequence[Mapping[str, object]]) -> Mapping[str, object]:
    """The scorecard's row of the night's totals (model '*'); empty before the scorecard ran."""
    return next((row for row in scorecard if row.get("model") == ALL_MODELS), {})


def _tag_accuracy(scorecard: Sequence[Mapping[str, object]]) -> str:
    """How often the night's taggers are right on labels they never saw, beside a constant label."""
    totals = _night_totals(scorecard)
    accuracy = totals.get("tagger_held_out_accuracy") or {}
    if not accuracy:
        return (
            "### Tag accuracy\n\nNo held-out figure for tonight's taggers in the warehouse (an LLM judge's is what "
            "`magpie-dagster eval-judge` measures).\n"
        )
    constant = totals.get("tagger_constant_accuracy") or {}
    lines = [
        "### Tag accuracy",
        "",
        "Each tag column's accuracy on hand labels the tagger did not learn from (the classifier's leave-one-out), "
        "beside the best constant label's:",
        "",
        "| tag column | held-out accuracy | constant label |",
        "|---|---|---|",
        *(f"| {field} | {value:.0%} | {constant.get(field, 0.0):.0%} |" for field, value in accuracy.items()),
    ]
    return "\n".join(lines) + "\n"


def _lineage(lineage: Lineage) -> str:
    lines = [
        "### Lineage",
        "",
        "| role | key | model | engine | licence |",
        "|---|---|---|---|---|",
        *(
            f"| {source.role} | {source.key} | {source.model} | {source.engine} | {source.license or 'not given'} |"
            for source in lineage.sources
        ),
        "",
        "Each row's `lineage` (`instruction_id`, `model`, `partition_date`, `instruction_fingerprint`, "
        "`response_fingerprint`) joins it back to the warehouse: `instructions.conversation_id = instruction_id`, "
        "`responses.conversation_id = conversation_id`; a fingerprint names what generated the text (engine, model, "
        "prompt, sampling, seed).",
    ]
    return "\n".join(lines) + "\n"


def _decontamination(
    benchmarks: Mapping[str, int], scorecard: Sequence[Mapping[str, object]], drop_reasons: Mapping[str, int]
) -> str:
    """Which benchmarks the night was checked against, how many instructions repeat their prompts, how many the
    recipe dropped for it (`benchmark_contamination`)."""
    if not benchmarks:
        return "### Decontamination\n\nNot checked: the catalogue lists no benchmark prompt files.\n"
    totals = _night_totals(scorecard)
    found = totals.get("contamination_by_benchmark") or {}
    lines = [
        "### Decontamination",
        "",
        "Every usable instruction was checked against these benchmarks' prompts (exact text, 13-gram overlap, "
        "embedding nearest neighbour; table `contamination`).",
        "",
        "| benchmark | prompts | instructions repeating one |",
        "|---|---|---|",
        *(f"| {name} | {prompts} | {found.get(name, 0)} |" for name, prompts in benchmarks.items()),
        "",
        f"Dropped by the recipe for it: {drop_reasons.get('benchmark_contamination', 0)}.",
    ]
    return "\n".join(lines) + "\n"


def _number(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_card(
    directory: Path,
    *,
    night: dt.date,
    recipe_name: str,
    corpus: pl.DataFrame,
    subset: pl.DataFrame,
    drop_reasons: Mapping[str, int],
    unusable: Mapping[str, int],
    skipped_rules: Mapping[str, str],
    preference_pairs: int,
    preference_ties: int,
    files: list[str],
    scorecard: Sequence[Mapping[str, object]] = (),
    lineage: Lineage | None = None,
    data_files: str = "curated.parquet",
    max_label_share: float = 0.9,
) -> Path:
    """`corpus` is every tagged row considered (for the dup rate); `subset` the curated rows; `unusable` the
    generated rows that never reached curation, by stage and drop reason; with `lineage` the card opens with the
    Hugging Face YAML header (licence, languages, sizes, source models, versions, the scorecard's totals)."""
    duplicates = corpus.filter(pl.col("repeat_count") > 0).height if "repeat_count" in corpus.columns else 0
    dup_rate = duplicates / corpus.height if corpus.height else 0.0
    sections = [
        f"# Magpie dataset export {night.isoformat()}",
        "",
        f"Made by magpie-dagster with the curation recipe `{recipe_name}`: {subset.height} of {corpus.height} "
        f"rows kept. Near-duplicate rate of the corpus: {dup_rate:.1%} (rows with at least one neighbour within "
        "the dedup threshold).",
        "",
        "Files: " + ", ".join(f"`{name}`" for name in files) + f". Figure: `{FIGURE}`.",
        "",
        f"Preference pairs: {preference_pairs} (ties skipped: {preference_ties}).",
        "",
        _table(
            "Why rows were dropped",
            sorted(((reason, n) for reason, n in drop_reasons.items() if reason != "kept"), key=lambda item: -item[1]),
        ),
        _table("Generated but unusable (never curated)", list(unusable.items())),
    ]
    sections.append(_scorecard(scorecard))
    if lineage is not None:
        sections.append(_decontamination(lineage.benchmarks, scorecard, drop_reasons))
    sections.append(_label_health(corpus, max_label_share))
    sections.append(_tag_accuracy(scorecard))
    if skipped_rules:
        sections.append(
            "### Rules skipped\n\n" + "\n".join(f"- `{rule}`: {why}" for rule, why in skipped_rules.items()) + "\n"
        )
    sections += [_table(f"Kept rows by {column}", _counts(subset, column)) for column in _DISTRIBUTIONS]
    if "response_model" in subset.columns and subset["response_model"].n_unique() > 1:  # responders
        sections.append(_table("Kept rows by response_model", _counts(subset, "response_model")))
    header = ""
    if lineage is not None:
        sections.append(_lineage(lineage))
        totals = _night_totals(scorecard)
        languages = subset["language"].drop_nulls().unique().to_list() if "language" in subset.columns else []
        header = card_header(
            lineage,
            night=night.isoformat(),
            rows=subset.height,
            languages=languages,
            recipe=recipe_name,
            data_files=data_files,
            scorecard={metric: totals.get(metric) for metric in TRENDED},
        )
    path = directory / CARD
    path.write_text(header + "\n".join(sections), encoding="utf-8")
    _figure(subset, directory / FIGURE)
    return path


def _figure(subset: pl.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [column for column in _DISTRIBUTIONS[1:] if column in subset.columns]
    figure, axes = plt.subplots(1, max(len(columns), 1), figsize=(4.5 * max(len(columns), 1), 4), squeeze=False)
    for axis, column in zip(axes[0], columns, strict=False):
        counts = _counts(subset, column)[:12]
        axis.barh([value for value, _ in counts][::-1], [count for _, count in counts][::-1], color="#4c72b0")
        axis.set_title(column)
        axis.tick_params(labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
