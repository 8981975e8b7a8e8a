"""`magpie-dagster eval-judge`: how often the taggers' labels match the hand-labelled set, beside a constant label.

By default the catalogue's taggers: `judging.classifier` for its tags, scored on labels it did not learn from
(a labelled row that is also one of its training rows is classified without it: leave-one-out), and
`judging.judge` for the rest. `--model-key` (a catalogue model) or `--base-url` and `--model` (an
OpenAI-compatible server) measure that LLM instead, on every judged tag; `--prompt` picks prompt versions
(default: the judge's, the project's current version of each tag unless `judging.judge.prompts` picks another).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from magpie_dagster.defs.metadata import markdown_table
from magpie_dagster.defs.resources import command_api_key
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.completion import SamplingParams
from magpie_dagster.domain.engine_config import Connection, OpenAIConnection
from magpie_dagster.domain.tagging.classifier_tagger import EmbeddingTagger
from magpie_dagster.domain.tagging.evaluation import (
    FAILED,
    TagScore,
    evaluate_judge,
    load_eval_set,
    load_labelled_set,
)
from magpie_dagster.domain.tagging.tags import spec_with_prompt
from magpie_dagster.engines.factory import open_engine
from magpie_dagster.settings import catalogue_path


def add_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "eval-judge",
        help="measure the taggers on the hand-labelled instructions: accuracy, kappa, confusion, constant baseline",
    )
    command.add_argument("--model-key", help="judge with this catalogue model instead of judging.judge")
    command.add_argument("--base-url", help="judge with an OpenAI-compatible server (with --model)")
    command.add_argument("--model", help="the served model's id, with --base-url")
    command.add_argument("--api-key-env", help="environment variable holding the server's API key, with --base-url")
    command.add_argument(
        "--prompt",
        action="append",
        dest="prompts",
        metavar="VERSION",
        help="a prompt version to measure, e.g. category-v2 (repeatable; default: the versions in use)",
    )
    command.add_argument("--eval-set", type=Path, help="a JSON-lines labelled set (default: the packaged one)")
    command.add_argument("--limit", type=int, help="only the first N labelled instructions")
    command.add_argument("--report", type=Path, help="also write the report as markdown to this file")
    command.add_argument("--json", type=Path, dest="json_path", help="also write the scores as JSON to this file")


def eval_judge(arguments: argparse.Namespace) -> int:
    path = catalogue_path()
    catalogue = load_catalogue(path)
    judging = catalogue.judging
    judge = judging.judge
    an_llm_asked = bool(arguments.prompts or arguments.model_key or arguments.base_url or arguments.model)
    classifier = None if an_llm_asked else judging.classifier
    llm_tags = judge.tags if an_llm_asked else judging.judge_tags
    versions = arguments.prompts or [judge.prompt_version(tag) for tag in llm_tags]
    for version in versions:
        spec_with_prompt(version)  # an unknown version fails before a model loads
    items = load_eval_set(arguments.eval_set)[: arguments.limit]
    scores = []
    if classifier is not None:
        tagger = EmbeddingTagger(
            classifier, load_labelled_set(classifier.labels, Path(path).parent), _sentence_embedder
        )
        scores += [tagger.held_out(tag, items) for tag in classifier.tags]
    if versions:
        scores += _judge_scores(arguments, catalogue, items, versions)
    report = render_report(scores)
    print(report)
    if arguments.report:
        arguments.report.write_text(report + "\n", encoding="utf-8")
    if arguments.json_path:
        arguments.json_path.write_text(json.dumps([asdict(score) for score in scores], indent=2) + "\n")
    return 0


def _judge_scores(arguments: argparse.Namespace, catalogue, items, versions: Sequence[str]) -> list[TagScore]:
    judge = catalogue.judging.judge
    label, connection = _judge_connection(arguments, catalogue)
    engine = open_engine(connection, api_key=command_api_key(label, connection), label=label)
    try:
        return evaluate_judge(
            engine,
            items,
            versions,
            max_retries=judge.max_retries,
            sampling=SamplingParams(temperature=judge.temperature, max_tokens=judge.max_tokens),
            constrained=judge.constrained,
        )
    finally:
        engine.close()


def _sentence_embedder(model: str, batch_size: int):
    from magpie_dagster.engines.embeddings import SentenceEmbedder

    return SentenceEmbedder(model, batch_size=batch_size)


def _judge_connection(arguments: argparse.Namespace, catalogue) -> tuple[str, Connection]:
    if arguments.base_url or arguments.model:
        if not (arguments.base_url and arguments.model):
            raise ValueError("--base-url and --model go together: the server's URL and the model id it serves")
        return "eval-judge", OpenAIConnection(
            engine="openai", base_url=arguments.base_url, model=arguments.model, api_key_env=arguments.api_key_env
        )
    if arguments.model_key:
        return arguments.model_key, catalogue.entry(arguments.model_key)
    return "judge", catalogue.judging.judge


def render_report(scores: Sequence[TagScore]) -> str:
    """The summary table (one row per tag and prompt version) and a confusion table per scored tag."""
    summary = [
        {
            "tagger": score.judge_model,
            "tag": f"{score.tag} ({score.field})",
            "prompt": score.prompt_version,
            "rows": score.rows,
            "failed": score.failed,
            "accuracy": _percent(score.accuracy),
            "constant baseline": f"{_percent(score.baseline_accuracy)} ({score.baseline_label})",
            "within one step": _percent(score.within_one),
            "constant within one": _percent(score.baseline_within_one),
            "QWK": "" if score.kappa is None else f"{score.kappa:.2f}",
            "rows/min": f"{score.rows / score.seconds * 60:.1f}" if score.seconds else "",
        }
        for score in scores
    ]
    parts = [
        f"Taggers on {scores[0].rows} hand-labelled instructions (a centroid classifier's rows held out: each "
        "labelled row it learnt from is classified without it)",
        "",
        markdown_table(summary, list(summary[0])),
    ]
    for score in scores:
        columns = ["gold \\ judged", *score.labels, FAILED]
        rows = [
            {"gold \\ judged": gold, **dict(zip([*score.labels, FAILED], counts, strict=True))}
            for gold, counts in zip(score.labels, score.confusion, strict=True)
        ]
        parts += [
            "",
            f"{score.tag} ({score.prompt_version}): rows are the gold labels",
            "",
            markdown_table(rows, columns),
        ]
    return "\n".join(parts)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"
