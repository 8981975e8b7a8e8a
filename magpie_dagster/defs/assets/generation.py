"""Generation assets: Magpie instructions, then responses, one model x date partition at a time."""

import dagster as dg

from magpie_dagster.defs.assets.partition_context import PartitionRun, open_partition_run
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.domain.instructions import generate_instructions
from magpie_dagster.domain.progress import GenerationProgress, markdown_table
from magpie_dagster.domain.responses import KeptInstruction, generate_responses
from magpie_dagster.domain.sampling_plan import plan_samples
from magpie_dagster.storage.rows import instruction_row, response_row
from magpie_dagster.storage.schema import INSTRUCTIONS, RESPONSES

GENERATION_GROUP = "generation"


def build_generation_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        name="raw_instructions",
        partitions_def=partitions_def,
        group_name=GENERATION_GROUP,
        kinds={"duckdb", "python"},
        description=(
            "User instructions sampled from each model's pre-query template alone (Magpie step 1), sanitised, "
            "with the raw text, the sanitiser rules that fired and a drop reason for unusable ones. "
            "Table `instructions`."
        ),
    )
    def raw_instructions(
        context: dg.AssetExecutionContext,
        catalogue: CatalogueResource,
        warehouse: WarehouseResource,
        engines: EngineResource,
    ) -> dg.MaterializeResult:
        run = open_partition_run(context, catalogue, warehouse, engines, INSTRUCTIONS)
        entry = run.entry
        plan = plan_samples(
            run.model_key, run.partition_date, entry.instructions_per_batch, entry.system_prompts
        )
        progress = GenerationProgress(total=len(plan))
        preview: list[dict] = []
        with run.engine_errors_as_failures():
            for batch in generate_instructions(
                run.engine,
                run.chat_format,
                plan,
                model_key=run.model_key,
                partition_date=run.partition_date,
                sampling=entry.instruction_sampling,
                template_variant=entry.template_variant,
                stop_at_assistant_word=entry.stop_at_assistant_word,
                batch_size=entry.batch_size,
            ):
                rows = [instruction_row(record) for record in batch]
                run.store.append(INSTRUCTIONS, rows)
                for record in batch:
                    progress.record(record.prompt_tokens, record.completion_tokens, record.drop_reason)
                preview.extend(rows[: 5 - len(preview)])
                context.log.info(f"[{run.label}] instructions {progress.log_line()}")
        return dg.MaterializeResult(
            metadata={
                **_progress_metadata(run, progress),
                "kept": dg.MetadataValue.int(progress.kept),
                "preview": dg.MetadataValue.md(
                    markdown_table(
                        preview, ["instruction", "drop_reason", "sanitiser_rules", "finish_reason"]
                    )
                ),
            }
        )

    @dg.asset(
        name="responses",
        deps=[raw_instructions],
        partitions_def=partitions_def,
        group_name=GENERATION_GROUP,
        kinds={"duckdb", "python"},
        description=(
            "The same model's answer to every kept instruction (Magpie step 2), rendered with its chat template "
            "and a generation prompt; multi-turn conversations continue up to the entry's `turns`. "
            "Table `responses`."
        ),
    )
    def responses(
        context: dg.AssetExecutionContext,
        catalogue: CatalogueResource,
        warehouse: WarehouseResource,
        engines: EngineResource,
    ) -> dg.MaterializeResult:
        run = open_partition_run(context, catalogue, warehouse, engines, RESPONSES)
        entry = run.entry
        system_prompts = {prompt.name: prompt.text for prompt in entry.system_prompts}
        kept = [
            KeptInstruction(
                conversation_id=row["conversation_id"],
                sample_index=row["sample_index"],
                instruction=row["instruction"],
                system_prompt=system_prompts.get(row["system_prompt_name"]),
            )
            for row in run.store.kept_instructions(run.model_key, run.partition_date)
        ]
        progress = GenerationProgress(total=len(kept))
        preview: list[dict] = []
        with run.engine_errors_as_failures():
            for batch in generate_responses(
                run.engine,
                run.chat_format,
                kept,
                model_key=run.model_key,
                partition_date=run.partition_date,
                response_sampling=entry.response_sampling,
                instruction_sampling=entry.instruction_sampling,
                turns=entry.turns,
                batch_size=entry.batch_size,
            ):
                rows = [response_row(record) for record in batch]
                run.store.append(RESPONSES, rows)
                for record in batch:
                    progress.record(record.prompt_tokens, record.completion_tokens, record.drop_reason)
                preview.extend(rows[: 5 - len(preview)])
                context.log.info(f"[{run.label}] responses {progress.log_line()}")
        return dg.MaterializeResult(
            metadata={
                **_progress_metadata(run, progress),
                "kept": dg.MetadataValue.int(progress.kept),
                "preview": dg.MetadataValue.md(
                    markdown_table(preview, ["instruction", "response", "turns", "drop_reason"])
                ),
            }
        )

    return [raw_instructions, responses]


def _progress_metadata(run: PartitionRun, progress: GenerationProgress) -> dict[str, dg.MetadataValue]:
    return {
        "rows": dg.MetadataValue.int(progress.done),
        "prompt_tokens": dg.MetadataValue.int(progress.prompt_tokens),
        "completion_tokens": dg.MetadataValue.int(progress.completion_tokens),
        "tokens_per_s": dg.MetadataValue.float(round(progress.tokens_per_s, 2)),
        "seconds": dg.MetadataValue.float(round(progress.elapsed_s, 2)),
        "drop_reasons": dg.MetadataValue.json(dict(sorted(progress.drop_reasons.items()))),
        "engine": dg.MetadataValue.text(run.engine.engine_name),
        "generator": dg.MetadataValue.text(run.engine.model_name),
        "table": dg.MetadataValue.text(run.table),
    }
