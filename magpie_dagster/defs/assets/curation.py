"""The night's curated subset: every model's rows of the night through the catalogue's curation recipe, built
only once every partition of the night has finished (`night_gate.py`)."""

import dagster as dg

from magpie_dagster.defs.metadata import markdown_table
from magpie_dagster.defs.plumbing.night_gate import blocking_partitions, night_partitions
from magpie_dagster.defs.plumbing.stage_assets import night_of, nightly_asset
from magpie_dagster.defs.plumbing.stage_run import stage_run
from magpie_dagster.defs.resources import CatalogueResource, WarehouseResource
from magpie_dagster.domain.curation.recipe import apply_recipe
from magpie_dagster.domain.curation.selection import shares_reached
from magpie_dagster.domain.stages import CURATED_SUBSET
from magpie_dagster.storage import curation_store, leases


def build_curated_subset(nights: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @nightly_asset(
        nights,
        CURATED_SUBSET,
        kinds={"duckdb", "polars"},
        automation_condition=dg.AutomationCondition.on_cron("30 2 * * *", "UTC"),
        description=(
            "The night's rows (all models) through the catalogue's curation recipe; every dropped row keeps the "
            "first rule that dropped it; a model with a row target keeps its best rows up to the target. Table "
            "`curated_rows` (drop_reason, subset_rank)."
        ),
    )
    def curated_subset(
        context: dg.AssetExecutionContext, catalogue: CatalogueResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        night = night_of(context)
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
            result = apply_recipe(recipe, rows, catalogue.catalogue.target_rows())
            curation_store.replace_decisions(run.store, run.lease, night, recipe.name, result.rows, result.skipped)
        if left_out:
            context.log.warning(
                f"[{night}] left out rows of models no longer in the catalogue: {left_out}; "
                "`magpie-dagster prune --model KEY` deletes them"
            )
        counts = result.drop_counts()
        preview = result.kept.head(5).to_dicts()
        return dg.MaterializeResult(
            metadata={
                "models_left_out": dg.MetadataValue.json(left_out),
                "rows": dg.MetadataValue.int(rows.height),
                "kept": dg.MetadataValue.int(counts.get("kept", 0)),
                "recipe": dg.MetadataValue.text(recipe.name),
                "drop_reasons": dg.MetadataValue.json(counts),
                "skipped_rules": dg.MetadataValue.json(result.skipped),
                "category_shares": dg.MetadataValue.json(shares_reached(result.kept)),
                "preview": dg.MetadataValue.md(
                    markdown_table(preview, ["model", "instruction", "task_category", "input_quality"])
                ),
            }
        )

    return curated_subset
