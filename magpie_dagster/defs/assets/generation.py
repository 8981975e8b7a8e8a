"""Generation assets: Magpie instructions, then responses, one model x date partition at a time.

Both resume (`domain.generation.resume`): only samples whose stored row is missing or stale are generated.
`fresh` regenerates every sample.
"""

import datetime as dt
from collections.abc import Callable
from functools import partial

import dagster as dg
from pydantic import Field

from magpie_dagster.defs.metadata import as_metadata, markdown_table
from magpie_dagster.defs.partitions import model_and_date
from magpie_dagster.defs.plumbing.metering import metered, spend_metadata
from magpie_dagster.defs.plumbing.stage_assets import model_asset
from magpie_dagster.defs.plumbing.stage_run import StageRun, stage_run
from magpie_dagster.defs.pools import ENGINE_POOL
from magpie_dagster.defs.progress import progress_message
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.domain.catalogue import Catalogue, GeneratorEntry
from magpie_dagster.domain.chat_templates import ChatFormat
from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.generation.config import RetrySettings
from magpie_dagster.domain.generation.instructions import (
    InstructionSettings,
    generate_instructions,
    instruction_fingerprints,
)
from magpie_dagster.domain.generation.probe import probe_report
from magpie_dagster.domain.generation.progress import GenerationProgress
from magpie_dagster.domain.generation.responses import (
    ResponseSettings,
    generate_responses,
    kept_instructions,
    response_fingerprints,
)
from magpie_dagster.domain.generation.resume import GenerationStage, ProbeFailed, resume
from magpie_dagster.domain.generation.sampling_plan import plan_samples
from magpie_dagster.domain.stages import GENERATION_ASSETS, RAW_INSTRUCTIONS
from magpie_dagster.domain.stages import RESPONSES as RESPONSES_ASSET
from magpie_dagster.storage import generation_store, rounds_store
from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.rows import instruction_row, response_row


class GenerationConfig(dg.Config):
    fresh: bool = Field(
        default=False,
        description="Regenerate every sample of the partition, even those stored with unchanged inputs.",
    )


def fresh_run_config() -> dict:
    """Run config that regenerates both generation stages of a partition (`magpie-dagster run --fresh`)."""
    return {"ops": {name: {"config": {"fresh": True}} for name in GENERATION_ASSETS}}


def build_generation_assets(
    partitions_def: dg.PartitionsDefinition, retries: RetrySettings
) -> list[dg.AssetsDefinition]:
    # Transient engine failures (a server restarting, a timeout) are retried by Dagster; each retry resumes.
    retry_policy = dg.RetryPolicy(
        max_retries=retries.max_retries, delay=retries.delay_s, backoff=dg.Backoff.EXPONENTIAL
    )

    def generation_asset(name: str, description: str, stages_for) -> dg.AssetsDefinition:
        @model_asset(
            partitions_def,
            name,
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
                    return engine, entry.chat_format(engine, night)

                stages = stages_for(catalogue.catalogue, model_key, open_engine, run, night)
                metadata = _resume(context, run, stages, config.fresh)
                metadata.update(spend_metadata(run, model_key, night))
            return dg.MaterializeResult(metadata=metadata)

        return generation

    raw_instructions = generation_asset(
        RAW_INSTRUCTIONS,
        "User instructions sampled from each model's pre-query template alone (Magpie step 1), sanitised, with the "
        "raw text, the sanitiser rules that fired and a drop reason for unusable ones. Table `instructions`.",
        _instruction_stages,
    )
    responses = generation_asset(
        RESPONSES_ASSET,
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
    count, steering = rounds_store.samples_to_plan(
        run.store, run.lease, entry.key, night, catalogue.target_of(model_key), entry.instructions_per_batch
    )
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


def _response_stages(
    catalogue: Catalogue, model_key: str, open_engine: OpenEngine, run: StageRun, night: dt.date
) -> list[GenerationStage]:
    """One stage per model answering the partition's instructions (its `responders`, or itself)."""
    entry = catalogue.entry(model_key)
    kept = kept_instructions(generation_store.usable_instructions(run.store, entry.key, night), entry.system_prompts)
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
    """Resumes the partition's stages (`domain.generation.resume`); returns the materialisation's metadata."""
    table, model_key, night = stages[0].table, stages[0].model_key, stages[0].night
    rows = generation_store.generated_rows(run.store, run.lease, table, model_key, night)

    def log_progress(progress: GenerationProgress) -> None:
        context.log.info(progress_message(run.label, table, progress.done, progress.total, progress.rates()))

    try:
        resumed = resume(stages, rows, fresh, on_batch=log_progress)
    except ProbeFailed as failed:
        text = f"[{run.label}] {failed.report.render()}"
        context.log.info(text)
        metadata = {"template_probe": dg.MetadataValue.text(failed.report.render())}
        raise dg.Failure(description=text, metadata=metadata, allow_retries=False) from failed
    metadata = as_metadata(resumed.summary(stages))
    if resumed.probe is not None:
        context.log.info(f"[{run.label}] {resumed.probe.render()}")
        metadata["template_probe"] = dg.MetadataValue.text(resumed.probe.render())
    metadata["preview"] = dg.MetadataValue.md(markdown_table(resumed.preview, stages[0].preview_columns))
    return metadata
