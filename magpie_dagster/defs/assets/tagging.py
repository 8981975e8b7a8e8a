"""The tagging asset: difficulty, quality and category (LLM-judged, or by the embedding classifier), language,
and optional safety and reward."""

import time
from pathlib import Path

import dagster as dg

from magpie_dagster.defs.metadata import markdown_table
from magpie_dagster.defs.partitions import model_and_date
from magpie_dagster.defs.plumbing.metering import metered, spend_metadata
from magpie_dagster.defs.plumbing.stage_assets import model_asset
from magpie_dagster.defs.plumbing.stage_run import BAD_ENVIRONMENT, EXIT_CODE, StageRun, stage_run
from magpie_dagster.defs.pools import ENGINE_POOL
from magpie_dagster.defs.progress import progress_message
from magpie_dagster.defs.resources import CatalogueResource, EmbedderResource, EngineResource, WarehouseResource
from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.stages import INSTRUCTION_TAGS
from magpie_dagster.domain.streaming import BatchWriter
from magpie_dagster.domain.tagging.checks import degenerate_labels, failure_rates_over, label_rows, labels_outside_sets
from magpie_dagster.domain.tagging.classifier_tagger import HELD_OUT
from magpie_dagster.domain.tagging.config import Judging
from magpie_dagster.domain.tagging.evaluation import EvalSetError, LabelledSet, load_labelled_set
from magpie_dagster.domain.tagging.judge import JudgeItem
from magpie_dagster.domain.tagging.taggers import Openers, Tagger, taggers
from magpie_dagster.domain.tagging.tagging import TagStats
from magpie_dagster.storage import tagging_store
from magpie_dagster.storage.rows import judgement_row, tagger_score_row

PARSE_FAILURE_CHECK = "judge_parse_failure_rate"
LABELS_IN_SET_CHECK = "labels_in_their_sets"
DEGENERATE_LABELS_CHECK = "labels_not_degenerate"


def build_tagging_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @model_asset(
        partitions_def,
        INSTRUCTION_TAGS,
        kinds={"duckdb", "python"},
        pool=ENGINE_POOL,
        check_specs=[
            dg.AssetCheckSpec(
                PARSE_FAILURE_CHECK,
                asset=INSTRUCTION_TAGS,
                description="Share of failed judgements per tag is under the catalogue's threshold.",
            ),
            dg.AssetCheckSpec(
                LABELS_IN_SET_CHECK,
                asset=INSTRUCTION_TAGS,
                description="Every stored label belongs to its tag's label set.",
            ),
            dg.AssetCheckSpec(
                DEGENERATE_LABELS_CHECK,
                asset=INSTRUCTION_TAGS,
                description=(
                    "No judged tag (difficulty, input_quality, task_category) puts one label on at least "
                    "`judging.judge.max_label_share` (0.9) of the partition's rows: a warning that the judge "
                    "answers the same whatever it reads."
                ),
            ),
        ],
        description=(
            "Tags per usable instruction: difficulty, input_quality, task_category (LLM judge or embedding "
            "classifier), language, and safety / reward when configured. Tables `judgements` (cache and audit, raw "
            "answers of failures kept), `tagger_scores` (held-out accuracy); view `instruction_tags`."
        ),
    )
    def instruction_tags(
        context: dg.AssetExecutionContext,
        catalogue: CatalogueResource,
        warehouse: WarehouseResource,
        engines: EngineResource,
        embedder: EmbedderResource,
    ) -> dg.MaterializeResult:
        model_key, partition_date = model_and_date(context)
        judging = catalogue.catalogue.judging
        labelled = _labelled_set(judging, Path(catalogue.path).parent)
        with stage_run(context, warehouse) as run:
            items = _items(tagging_store.judging_inputs(run.store, model_key, partition_date))
            answers = _items(tagging_store.answered_inputs(run.store, model_key, partition_date))

            def open_judge(label: str, connection) -> GenerationEngine:
                engine = engines.engine_named(label, connection)
                return metered(context, run, engine, label, connection.price, model_key, partition_date)

            stats = [
                _run_tagger(
                    context, run, tagger, answers if tagger.version.uses_response else items, model_key, partition_date
                )
                for tagger in taggers(judging, Openers(open_judge, engines.reward_model, embedder.get), labelled)
            ]
            outcomes = tagging_store.tag_outcomes(run.store, model_key, partition_date)
            labels = tagging_store.label_counts(run.store, model_key, partition_date)
            spend = spend_metadata(run, model_key, partition_date)
        thresholds = {tag: judging.judge.max_failure_rate for tag in judging.judged_tags}
        if judging.safety is not None:
            thresholds["safety"] = judging.safety.max_failure_rate
        over = failure_rates_over(outcomes, thresholds)
        outside = labels_outside_sets(labels)
        degenerate = degenerate_labels(labels, judging.judge.max_label_share)
        return dg.MaterializeResult(
            metadata={**_metadata(stats, outcomes, labels, len(items)), **spend},
            check_results=[
                dg.AssetCheckResult(
                    check_name=PARSE_FAILURE_CHECK,
                    passed=not over,
                    metadata={
                        "over_threshold": dg.MetadataValue.json(over),
                        "thresholds": dg.MetadataValue.json(thresholds),
                    },
                ),
                dg.AssetCheckResult(
                    check_name=LABELS_IN_SET_CHECK,
                    passed=not outside,
                    metadata={"labels_outside_sets": dg.MetadataValue.json(outside)},
                ),
                dg.AssetCheckResult(
                    check_name=DEGENERATE_LABELS_CHECK,
                    passed=not degenerate,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "degenerate": dg.MetadataValue.json(degenerate),
                        "max_label_share": dg.MetadataValue.float(judging.judge.max_label_share),
                    },
                ),
            ],
        )

    return instruction_tags


def _labelled_set(judging: Judging, folder: Path) -> LabelledSet | None:
    if judging.classifier is None:
        return None
    try:
        return load_labelled_set(judging.classifier.labels, folder)
    except EvalSetError as error:
        bad = {EXIT_CODE: BAD_ENVIRONMENT}
        raise dg.Failure(description=f"judging.classifier.labels: {error}", metadata=bad, allow_retries=False) from None


def _items(rows: list[dict]) -> list[JudgeItem]:
    return [JudgeItem(row["conversation_id"], row["instruction"], row["response"]) for row in rows]


def _run_tagger(context, run: StageRun, tagger: Tagger, items, model_key, partition_date) -> TagStats:
    """`items`: the partition's instructions, or for response-level tags (safety, reward) each of its answers."""
    version = tagger.version
    stats = TagStats(version.tag, version.judge_model, version.prompt_version)
    current = [i.conversation_id for i in items]
    tagging_store.drop_stale_judgements(run.store, run.lease, model_key, partition_date, version.tag, current)
    cached = tagging_store.cached_judgements(run.store, model_key, partition_date, version.tag)
    todo = version.to_judge(items, cached)
    stats.reused = len(version.eligible(items)) - len(todo)
    input_hash = {item.conversation_id: version.input_hash(item) for item in todo}
    started = time.monotonic()

    def store(results: list) -> None:
        rows = [
            judgement_row(r, model_key, partition_date, input_hash[r.conversation_id], version.judge_model)
            for r in results
        ]
        tagging_store.write_judgements(run.store, run.lease, rows)
        stats.add(results)
        stats.seconds = time.monotonic() - started

    def log_progress() -> None:
        detail = f"judged ({stats.reused} reused), {stats.failed} failed, {stats.tokens_per_s:.1f} tokens/s"
        context.log.info(progress_message(run.label, version.tag, stats.judged, len(todo), detail))

    # Judgements commit on the writer's thread while the judge decodes the next ones.
    with BatchWriter(store) as writer:
        for results in tagger.batches(todo):
            writer.put(results)
            log_progress()
    if todo:
        log_progress()
    if tagger.held_out and (held_out := tagger.held_out()) is not None:
        tagging_store.write_tagger_score(run.store, run.lease, tagger_score_row(held_out, HELD_OUT))
    return stats


def _metadata(stats: list[TagStats], outcomes, labels, rows: int) -> dict[str, dg.MetadataValue]:
    judging_rows = [s.summary() for s in stats]
    seconds = sum(s.seconds for s in stats)
    tokens = sum(s.completion_tokens for s in stats)
    return {
        "rows": dg.MetadataValue.int(rows),
        "judged": dg.MetadataValue.int(sum(s.judged for s in stats)),
        "reused": dg.MetadataValue.int(sum(s.reused for s in stats)),
        "failed": dg.MetadataValue.int(sum(s.failed for s in stats)),
        "retried_ok": dg.MetadataValue.int(sum(s.parsed_after_retry for s in stats)),
        "judge_completion_tokens": dg.MetadataValue.int(tokens),
        "judge_tokens_per_s": dg.MetadataValue.float(round(tokens / seconds, 2) if seconds else 0.0),
        "failure_reasons": dg.MetadataValue.json({s.tag: s.errors for s in stats if s.errors}),
        "outcomes": dg.MetadataValue.json(outcomes),
        "judging": dg.MetadataValue.md(markdown_table(judging_rows, list(judging_rows[0]) if judging_rows else [])),
        "label_distributions": dg.MetadataValue.md(markdown_table(label_rows(labels), ["column", "label", "rows"])),
    }
