"""Nightly assets over all models: the curated subset, preference pairs, and the exports people train on."""

import datetime as dt
import hashlib

import dagster as dg

from magpie_dagster.defs.assets.night_gate import blocking_partitions, night_partitions
from magpie_dagster.defs.assets.stage_run import stage_run
from magpie_dagster.defs.metadata import markdown_table
from magpie_dagster.defs.pools import ENGINE_POOL
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.domain.curation.recipe import apply_recipe
from magpie_dagster.domain.exports import formats
from magpie_dagster.domain.exports.card import write_card
from magpie_dagster.domain.exports.publish import night_directory, publish, staging_directory
from magpie_dagster.domain.generator_setup import chat_format_for
from magpie_dagster.domain.judge_config import RewardModelEntry
from magpie_dagster.domain.judging.judge import JudgeItem, judge_items
from magpie_dagster.domain.judging.tags import TAGS
from magpie_dagster.domain.preference import choose_pair, sample_requests
from magpie_dagster.storage import curation_store, leases

CURATION_GROUP = "curation"


def build_curation_assets(nights: dg.DailyPartitionsDefinition, dedup: dg.AssetsDefinition, tags) -> list:
    by_night = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")

    @dg.asset(
        name="curated_subset",
        ins={
            "dedup": dg.AssetIn(dedup.key, partition_mapping=by_night, dagster_type=dg.Nothing),
            "tags": dg.AssetIn(tags.key, partition_mapping=by_night, dagster_type=dg.Nothing),
        },
        partitions_def=nights,
        group_name=CURATION_GROUP,
        kinds={"duckdb", "polars"},
        automation_condition=dg.AutomationCondition.on_cron("30 2 * * *", "UTC"),
        description=(
            "The night's rows (all models) through the catalogue's curation recipe; every dropped row keeps the "
            "first rule that dropped it. Table `curated_rows` (drop_reason, subset_rank)."
        ),
    )
    def curated_subset(
        context: dg.AssetExecutionContext, catalogue: CatalogueResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        night = dt.date.fromisoformat(context.partition_key)
        recipe = catalogue.catalogue.curation.resolved()
        models = catalogue.catalogue.model_keys
        with stage_run(context, warehouse) as run:
            states = leases.stage_states(run.store, night_partitions(models, night))
            blocked = blocking_partitions(models, night, states)
            if blocked:
                raise dg.Failure(
                    description=(
                        f"Night {night} was not built; it keeps its previous curated subset, preference pairs and "
                        "exports. Blocked by: " + "; ".join(blocked)
                    ),
                    metadata={"blocked_by": dg.MetadataValue.json(blocked)},
                    allow_retries=False,
                )
            rows = curation_store.night_rows(run.store, night, models)
            left_out = curation_store.rows_of_other_models(run.store, models, night)
            result = apply_recipe(recipe, rows)
            curation_store.replace_decisions(run.store, run.lease, night, recipe.name, result.rows, result.skipped)
        if left_out:
            context.log.warning(
                f"[{night}] left out rows of models no longer in the catalogue: {left_out}; "
                "`magpie-dagster prune --model KEY` deletes them"
            )
        counts = result.drop_counts()
        return dg.MaterializeResult(
            metadata={
                "models_left_out": dg.MetadataValue.json(left_out),
                "rows": dg.MetadataValue.int(rows.height),
                "kept": dg.MetadataValue.int(counts.get("kept", 0)),
                "recipe": dg.MetadataValue.text(recipe.name),
                "drop_reasons": dg.MetadataValue.json(counts),
                "skipped_rules": dg.MetadataValue.json(result.skipped),
                "preview": dg.MetadataValue.md(
                    markdown_table(
                        result.kept.head(5).to_dicts(), ["model", "instruction", "task_category", "input_quality"]
                    )
                ),
            }
        )

    @dg.asset(
        name="preference_pairs",
        deps=[curated_subset],
        partitions_def=nights,
        group_name=CURATION_GROUP,
        kinds={"duckdb", "python"},
        pool=ENGINE_POOL,
        automation_condition=dg.AutomationCondition.eager(),
        description=(
            "For curated instructions: k responses sampled from their own generator, scored by the catalogue's "
            "reward (reward model or judge score); chosen = best, rejected = worst, ties skipped and counted. "
            "Table `preference_pairs`. Empty unless the catalogue has a `preference` section."
        ),
    )
    def preference_pairs(
        context: dg.AssetExecutionContext,
        catalogue: CatalogueResource,
        warehouse: WarehouseResource,
        engines: EngineResource,
    ) -> dg.MaterializeResult:
        night = dt.date.fromisoformat(context.partition_key)
        settings = catalogue.catalogue.preference
        pairs, ties, scored = [], 0, 0
        with stage_run(context, warehouse) as run:
            if settings is not None:
                subset = curation_store.curated_subset(run.store, night, catalogue.catalogue.model_keys)
                if settings.max_instructions:
                    subset = subset.head(settings.max_instructions)
                sample = _sampler(catalogue, engines, settings, night)
                score, reward_model = _scorer(catalogue, engines)
                pairs, ties, scored = _pairs(context, subset, sample, score, reward_model, settings, night)
            curation_store.replace_preference_pairs(run.store, run.lease, night, pairs, ties)
        return dg.MaterializeResult(
            metadata={
                "configured": dg.MetadataValue.bool(settings is not None),
                "instructions_scored": dg.MetadataValue.int(scored),
                "pairs": dg.MetadataValue.int(len(pairs)),
                "ties_skipped": dg.MetadataValue.int(ties),
            }
        )

    @dg.asset(
        name="dataset_export",
        deps=[curated_subset, preference_pairs],
        partitions_def=nights,
        group_name=CURATION_GROUP,
        kinds={"parquet", "json"},
        automation_condition=dg.AutomationCondition.eager(),
        description=(
            "Files under data/exports/<date>/: ShareGPT and OpenAI-messages JSONL, Parquet with every column, "
            "preference pairs JSONL, and a dataset card (README.md) with a figure of the distributions."
        ),
    )
    def dataset_export(
        context: dg.AssetExecutionContext, catalogue: CatalogueResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        night = dt.date.fromisoformat(context.partition_key)
        models = catalogue.catalogue.model_keys
        with stage_run(context, warehouse) as run:
            target = night_directory(run.store.exports_root, night)
            corpus = curation_store.night_rows(run.store, night, models)
            subset = curation_store.curated_subset(run.store, night, models)
            pairs = curation_store.preference_pairs(run.store, night)
            recipe_name, drop_reasons, skipped, ties = curation_store.curation_summary(run.store, night)
            directory = staging_directory(target, context.run_id)
            unusable = curation_store.unusable_rows(run.store, night, models)
            files = _write_exports(
                directory, night, recipe_name, corpus, subset, pairs, drop_reasons, skipped, ties, unusable,
                catalogue.catalogue.judging.judge.max_label_share,
            )
            publish(directory, target)
        return dg.MaterializeResult(
            metadata={
                "directory": dg.MetadataValue.path(str(target)),
                "rows": dg.MetadataValue.int(subset.height),
                "preference_pairs": dg.MetadataValue.int(pairs.height),
                "files": dg.MetadataValue.json(files),
                "card": dg.MetadataValue.md((target / "README.md").read_text(encoding="utf-8")[:4000]),
            }
        )

    return [curated_subset, preference_pairs, dataset_export]


def _write_exports(
    directory, night, recipe_name, corpus, subset, pairs, drop_reasons, skipped, ties, unusable, max_label_share
) -> list[str]:
    """Writes every export file and the card into `directory`; returns the file names."""
    written = [
        formats.write_sharegpt(subset, directory / formats.SHAREGPT),
        formats.write_openai_messages(subset, directory / formats.OPENAI_MESSAGES),
        formats.write_parquet(subset, directory / formats.PARQUET),
        formats.write_preference_pairs(pairs, directory / formats.PREFERENCE),
    ]
    card = write_card(
        directory,
        night=night,
        recipe_name=recipe_name,
        corpus=corpus,
        subset=subset,
        drop_reasons=drop_reasons,
        unusable=unusable,
        skipped_rules=skipped,
        preference_pairs=pairs.height,
        preference_ties=ties,
        files=[path.name for path in written],
        max_label_share=max_label_share,
    )
    return [path.name for path in [*written, card]]


def _pairs(context, subset, sample, score, reward_model, settings, night) -> tuple[list[dict], int, int]:
    """Sample, score and pair each curated row; returns the pair rows, the ties skipped and the rows scored."""
    pairs, ties = [], 0
    for scored, row in enumerate(subset.iter_rows(named=True), start=1):
        responses = sample(row)
        pair = choose_pair(
            row["conversation_id"],
            row["instruction"],
            responses,
            score(row["instruction"], responses),
            settings.min_margin,
        )
        if pair is None:
            ties += 1
        else:
            pairs.append(
                {
                    "conversation_id": pair.conversation_id,
                    "model": row["model"],
                    "instruction": pair.instruction,
                    "responses": list(pair.responses),
                    "rewards": list(pair.rewards),
                    "chosen": list(pair.chosen),
                    "rejected": list(pair.rejected),
                    "chosen_reward": pair.chosen_reward,
                    "rejected_reward": pair.rejected_reward,
                    "reward_model": reward_model,
                }
            )
        context.log.info(f"[{night}] preference pairs: {scored}/{subset.height} scored, {ties} ties")
    return pairs, ties, subset.height


def _sampler(catalogue, engines, settings, night):
    """Samples k responses to a curated row from its own generator; chat formats are derived once per model."""
    formats: dict[tuple[str, dt.date], object] = {}

    def sample(row) -> list[str]:
        entry = catalogue.catalogue.entry(row["model"])
        engine = engines.engine_for(entry)
        key = (row["model"], row["partition_date"])
        if key not in formats:
            formats[key] = chat_format_for(entry, engine, row["partition_date"])
        chat_format = formats[key]
        prompt = chat_format.response_prompt(row["instruction"])
        seed = int(hashlib.sha256(f"{row['conversation_id']}|preference|{night}".encode()).hexdigest()[:7], 16)
        completions = engine.complete(
            sample_requests(prompt, settings.samples, settings.sampling.to_params(chat_format.stop_strings), seed)
        )
        return [completion.text.strip() for completion in completions]

    return sample


def _scorer(catalogue, engines):
    """A reward function over one instruction's responses, and the name of the model that gives it.

    Nothing connects or loads until the first call, so a night with nothing to score opens no model; the engine
    resource opens the reward model or judge once per run and closes it.
    """
    judging = catalogue.catalogue.judging
    if isinstance(judging.reward, RewardModelEntry):

        def by_reward_model(instruction: str, responses: list[str]) -> list[float | None]:
            client = engines.reward_model(judging.reward)
            return [
                score.score for score in client.score([(str(i), instruction, text) for i, text in enumerate(responses)])
            ]

        return by_reward_model, judging.reward.model

    def by_judge(instruction: str, responses: list[str]) -> list[float | None]:
        judge = engines.engine_named("judge", judging.judge)  # opened once per run by the resource
        items = [JudgeItem(str(i), instruction, text) for i, text in enumerate(responses)]
        results = judge_items(judge, items, TAGS["reward"], max_retries=judging.judge.max_retries)
        return [result.columns["instruct_reward"] if result.ok else None for result in results]

    return by_judge, judging.judge.model
