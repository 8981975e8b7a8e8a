"""Generation assets: Magpie instructions, then responses, one model x date partition at a time.

Both resume: a sample whose stored row has the fingerprint it would be generated with now is kept, the rest
are generated in batches, each stored in place of the rows it replaces. `fresh` regenerates every sample.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import dagster as dg
from pydantic import Field

from magpie_dagster.defs.assets.metering import metered, spend_metadata
from magpie_dagster.defs.assets.stage_run import StageRun, stage_run
from magpie_dagster.defs.metadata import markdown_table
from magpie_dagster.defs.partitions import model_and_date
from magpie_dagster.defs.pools import ENGINE_POOL
from magpie_dagster.defs.progress import progress_message
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.domain.catalogue import Catalogue, GeneratorEntry, RetrySettings
from magpie_dagster.domain.chat_templates import ChatFormat
from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.generation.generator_setup import chat_format_for
from magpie_dagster.domain.generation.instructions import (
    InstructionSettings,
    generate_instructions,
    instruction_fingerprints,
)
from magpie_dagster.domain.generation.probe import ProbeReport, probe_report
from magpie_dagster.domain.generation.progress import GenerationProgress
from magpie_dagster.domain.generation.responses import (
    KeptInstruction,
    ResponseSettings,
    generate_responses,
    response_fingerprints,
)
from magpie_dagster.domain.generation.sampling_plan import PlannedSample, plan_samples
from magpie_dagster.domain.targets import Target, first_round_samples
from magpie_dagster.storage import generation_store, round_store
from magpie_dagster.storage.rows import instruction_row, response_row
from magpie_dagster.storage.schema import INSTRUCTIONS, RESPONSES

GENERATION_GROUP = "generation"


class GenerationConfig(dg.Config):
    fresh: bool = Field(
        default=False,
        description="Regenerate every sample of the partition, even those stored with unchanged inputs.",
    )


def fresh_run_config() -> dict:
    """Run config that regenerates both generation stages of a partition (`magpie-dagster run --fresh`)."""
    return {"ops": {name: {"config": {"fresh": True}} for name in ("raw_instructions", "responses")}}


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


def build_generation_assets(
    partitions_def: dg.PartitionsDefinition, retries: RetrySettings
) -> list[dg.AssetsDefinition]:
    # Transient engine failures (a server restarting, a timeout) are retried by Dagster; each retry resumes.
    retry_policy = dg.RetryPolicy(
        max_retries=retries.max_retries, delay=retries.delay_s, backoff=dg.Backoff.EXPONENTIAL
    )

    def generation_asset(name: str, deps: list, description: str, stages_for) -> dg.AssetsDefinition:
        @dg.asset(
            name=name,
            deps=deps,
            partitions_def=partitions_def,
            group_name=GENERATION_GROUP,
            kinds={"duckdb", "python"},
            pool=ENGINE_POOL,
            retry_policy=retry_policy,
            description=description,
        )
        def generation(
            context: dg.AssetExecutionContext,
            config: GenerationConfig,
            catalogue: CatalogueResource,
            warehouse: WarehouseResource,
            engines: EngineResource,
        ) -> dg.MaterializeResult:
            model_key, night = model_and_date(context)
            with stage_run(context, warehouse) as run:

                def open_engine(entry: GeneratorEntry) -> tuple[GenerationEngine, ChatFormat]:
                    """The entry's engine, metered to this partition, and its chat format."""
                    engine = metered(context, run, engines.engine_for(entry), entry.key, entry.price, model_key, night)
                    return engine, chat_format_for(entry, engine, night)

                stages = stages_for(catalogue.catalogue, model_key, open_engine, run, night)
                metadata = _resume(context, run, stages, config.fresh)
                metadata.update(spend_metadata(run, model_key, night))
            return dg.MaterializeResult(metadata=metadata)

        return generation

    raw_instructions = generation_asset(
        "raw_instructions",
        [],
        "User instructions sampled from each model's pre-query template alone (Magpie step 1), sanitised, with the "
        "raw text, the sanitiser rules that fired and a drop reason for unusable ones. Table `instructions`.",
        _instruction_stages,
    )
    responses = generation_asset(
        "responses",
        [raw_instructions],
        "The answer to every kept instruction (Magpie step 2) by the same model, or by each of the entry's "
        "`responders` with its own template, engine and sampling; multi-turn conversations continue up to the "
        "entry's `turns`; a reasoning model's thinking is stored apart. Table `responses` (`response_model`).",
        _response_stages,
    )
    return [raw_instructions, responses]


OpenEngine = Callable[[GeneratorEntry], tuple[GenerationEngine, ChatFormat]]


def _instruction_stages(
    catalogue: Catalogue, model_key: str, open_engine: OpenEngine, run: StageRun, night: dt.date
) -> list[GenerationStage]:
    entry = catalogue.entry(model_key)
    engine, chat_format = open_engine(entry)
    settings = InstructionSettings(entry.instruction_sampling, entry.template_variant, entry.stop_at_assistant_word)
    count, steering = _planned_samples(run, entry, night, catalogue.target_of(model_key))
    plan = plan_samples(entry.key, night, count, entry.system_prompts, steering)
    probe = partial(
        probe_report, entry.key, chat_format.name, settings=entry.probe, max_tokens=settings.sampling.max_tokens
    )
    stage = GenerationStage(
        INSTRUCTIONS,
        entry.key,
        night,
        plan,
        instruction_fingerprints(engine, chat_format, plan, settings),
        lambda todo: generate_instructions(
            engine, chat_format, todo, settings, model_key=entry.key, partition_date=night, batch_size=entry.batch_size
        ),
        instruction_row,
        ["instruction", "drop_reason", "sanitiser_rules", "finish_reason"],
        engine,
        probe=probe if entry.probe.enabled else None,
        probe_samples=entry.probe.samples,
    )
    return [stage]


def _planned_samples(
    run: StageRun, entry: GeneratorEntry, night: dt.date, target: Target | None
) -> tuple[int, list[tuple[int, dict[str, float]]]]:
    """How many samples the partition plans, and the system prompt weights of later rounds: with a target, what
    its latest round planned (round 1 is planned here, from the yield of the model's earlier nights)."""
    if target is None:
        return entry.instructions_per_batch, []
    planned = round_store.rounds(run.store, entry.key, night)
    if planned:
        return planned[-1]["planned_samples"], round_store.steering(planned)
    measured = round_store.measured_yield(run.store, entry.key, night)
    count = first_round_samples(target, entry.instructions_per_batch, measured)
    round_store.start_first_round(run.store, run.lease, entry.key, night, count, target.curated_rows)
    return count, []


def _response_stages(
    catalogue: Catalogue, model_key: str, open_engine: OpenEngine, run: StageRun, night: dt.date
) -> list[GenerationStage]:
    """One stage per model answering the partition's instructions (its `responders`, or itself)."""
    entry = catalogue.entry(model_key)
    system_prompts = {prompt.name: prompt.text for prompt in entry.system_prompts}
    kept = [
        KeptInstruction(
            conversation_id=row["conversation_id"],
            sample_index=row["sample_index"],
            instruction=row["instruction"],
            system_prompt=system_prompts.get(row["system_prompt_name"]),
        )
        for row in generation_store.usable_instructions(run.store, entry.key, night)
    ]
    stages = []
    for responder in catalogue.responders_of(model_key):
        engine, chat_format = open_engine(responder)
        settings = ResponseSettings(
            entry.key, night, responder.key, responder.response_sampling, responder.instruction_sampling, entry.turns
        )
        stages.append(
            GenerationStage(
                RESPONSES,
                entry.key,
                night,
                kept,
                response_fingerprints(engine, chat_format, kept, settings),
                partial(generate_responses, engine, chat_format, settings=settings, batch_size=responder.batch_size),
                response_row,
                ["response_model", "instruction", "response", "drop_reason"],
                engine,
                key=settings.answer_id,
            )
        )
    return stages


def _resume(
    context: dg.AssetExecutionContext, run: StageRun, stages: list[GenerationStage], fresh: bool
) -> dict[str, dg.MetadataValue]:
    """Generates the samples whose stored row is missing or stale (all of them if `fresh`), stores each batch in
    place of the rows it replaces, then removes rows no longer wanted; returns the materialisation's metadata."""
    table, model_key, night = stages[0].table, stages[0].model_key, stages[0].night
    stored = generation_store.stored_fingerprints(run.store, table, model_key, night)
    todos = [
        [sample for sample in stage.samples if fresh or stored.get(key := stage.key(sample)) != stage.wanted[key]]
        for stage in stages
    ]
    progress = GenerationProgress(total=sum(len(todo) for todo in todos))
    preview: list[dict] = []

    def store(stage: GenerationStage, batch: list) -> None:
        rows = [stage.to_row(record) for record in batch]
        generation_store.replace_batch(run.store, run.lease, table, rows)
        for record in batch:
            progress.record(record.prompt_tokens, record.completion_tokens, record.drop_reason)
        context.log.info(progress_message(run.label, table, progress.done, progress.total, progress.rates()))
        preview.extend(rows[: 5 - len(preview)])

    probe_metadata: dict[str, dg.MetadataValue] = {}
    for stage, todo in zip(stages, todos, strict=True):
        if stage.probe is not None and todo and not stored:
            probe_metadata = _probe(context, run.label, stage, todo[: stage.probe_samples], partial(store, stage))
            todo = todo[stage.probe_samples :]
        for batch in stage.generate(todo):
            store(stage, batch)
    wanted = {key for stage in stages for key in stage.wanted}
    removed = generation_store.remove_all_but(run.store, run.lease, table, model_key, night, wanted)
    outcomes = generation_store.drop_reasons(run.store, table, model_key, night)
    return {
        **_progress_metadata(stages, progress, len(wanted), removed, table, outcomes),
        **probe_metadata,
        "preview": dg.MetadataValue.md(markdown_table(preview, stages[0].preview_columns)),
    }


def _probe(context, label: str, stage: GenerationStage, first: list, store) -> dict[str, dg.MetadataValue]:
    """Generates a new partition's first samples and stores them only when the template probe passes.

    They are the partition's own first samples, so a passing probe costs nothing; a failing one stores nothing
    and is not retried (a wrong template does not fix itself).
    """
    records = [record for batch in stage.generate(first) for record in batch]
    report = stage.probe(records)
    context.log.info(f"[{label}] {report.render()}")
    metadata = {"template_probe": dg.MetadataValue.text(report.render())}
    if not report.passed:
        raise dg.Failure(description=f"[{label}] {report.render()}", metadata=metadata, allow_retries=False)
    store(records)
    return metadata


def _progress_metadata(
    stages: list[GenerationStage],
    progress: GenerationProgress,
    planned: int,
    removed: int,
    table: str,
    outcomes: dict[str, int],
) -> dict[str, dg.MetadataValue]:
    """Rows of the partition after the run (kept and drop reasons), and what this run generated and reused."""
    return {
        "rows": dg.MetadataValue.int(planned),
        "generated": dg.MetadataValue.int(progress.done),
        "reused": dg.MetadataValue.int(planned - progress.total),
        "removed": dg.MetadataValue.int(removed),
        "prompt_tokens": dg.MetadataValue.int(progress.prompt_tokens),
        "completion_tokens": dg.MetadataValue.int(progress.completion_tokens),
        "tokens_per_s": dg.MetadataValue.float(round(progress.tokens_per_s, 2)),
        "seconds": dg.MetadataValue.float(round(progress.elapsed_s, 2)),
        "kept": dg.MetadataValue.int(outcomes.get("kept", 0)),
        "drop_reasons": dg.MetadataValue.json({reason: n for reason, n in outcomes.items() if reason != "kept"}),
        "engine": dg.MetadataValue.text(", ".join(dict.fromkeys(stage.engine.engine_name for stage in stages))),
        "generator": dg.MetadataValue.text(", ".join(dict.fromkeys(stage.engine.model_name for stage in stages))),
        "table": dg.MetadataValue.text(table),
    }
