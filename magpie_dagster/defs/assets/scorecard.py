"""The night's scorecard: usable, duplicate, loop and leak rates, diversity, the category mix, the judge's health and
the preference pairs' length bias, per model and for the night. Its numbers are the asset's metadata, so the UI
plots each across nights (the asset's Plots tab); a warning check compares tonight with the nights before."""

import dagster as dg

from magpie_dagster.defs.metadata import markdown_table
from magpie_dagster.defs.plumbing.stage_assets import night_of, nightly_asset
from magpie_dagster.defs.plumbing.stage_run import stage_run
from magpie_dagster.defs.resources import CatalogueResource, WarehouseResource
from magpie_dagster.domain.scorecard.drift import drifts
from magpie_dagster.domain.scorecard.metrics import COUNTS, TRENDED
from magpie_dagster.domain.scorecard.scorecard import scorecard_rows
from magpie_dagster.domain.stages import NIGHT_SCORECARD
from magpie_dagster.storage import scorecard_store

DRIFT_CHECK = "scorecard_within_bands"


def build_night_scorecard(nights: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @nightly_asset(
        nights,
        NIGHT_SCORECARD,
        kinds={"duckdb", "polars"},
        check_specs=[
            dg.AssetCheckSpec(
                DRIFT_CHECK,
                asset=NIGHT_SCORECARD,
                description=(
                    "Each of the night's numbers lies within its band (catalogue `scorecard.bands`) of the median of "
                    "the trailing nights (`scorecard.trailing_nights`, 7): a warning that the night drifted."
                ),
            )
        ],
        description=(
            "The night's quality scorecard, one row per model and the night's totals (model '*'): usable, "
            "near-duplicate, looping, truncation and template-leak rates, the curated rows' diversity (Vendi "
            "score) and category entropy, distributions, judge failure and label degeneracy, safety flags, the "
            "preference pairs' length bias. Table `night_scorecard`."
        ),
    )
    def night_scorecard(
        context: dg.AssetExecutionContext, catalogue: CatalogueResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        night = night_of(context)
        settings = catalogue.catalogue
        with stage_run(context, warehouse) as run:
            facts = scorecard_store.night_facts(run.store, night, settings.model_keys)
            rows = scorecard_rows(
                facts,
                settings.model_keys,
                lambda ids: scorecard_store.embeddings(run.store, ids, settings.dedup.embedder),
                settings.curation.resolved().task_category_shares,
                settings.judging.judge.max_label_share,
            )
            scorecard_store.replace_scorecard(run.store, run.lease, night, rows)
            earlier = scorecard_store.earlier_totals(run.store, night, settings.scorecard.trailing_nights)
        totals = rows[-1]
        bands = settings.scorecard.effective_bands()
        found = drifts(totals, earlier, bands, settings.scorecard.min_nights)
        if found:
            context.log.warning(f"[{night}] the scorecard drifted: " + "; ".join(drift.describe() for drift in found))
        return dg.MaterializeResult(
            metadata={
                **_numbers(totals),
                "by_model": dg.MetadataValue.md(markdown_table(rows, ["model", *TRENDED])),
                "task_category_shares": dg.MetadataValue.json(totals["task_category_shares"]),
                "degenerate_tags": dg.MetadataValue.json(totals["degenerate_tags"]),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=DRIFT_CHECK,
                    passed=not found,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "drifted": dg.MetadataValue.json({drift.metric: drift.describe() for drift in found}),
                        "earlier_nights": dg.MetadataValue.int(len(earlier)),
                        "bands": dg.MetadataValue.json(bands),
                    },
                )
            ],
        )

    return night_scorecard


def _numbers(totals: dict) -> dict[str, dg.MetadataValue]:
    """The night's totals as numeric metadata: Dagster plots each one across the asset's materialisations."""
    numbers = {}
    for metric in TRENDED:
        value = totals.get(metric)
        if value is None:
            continue
        numbers[metric] = dg.MetadataValue.int(value) if metric in COUNTS else dg.MetadataValue.float(float(value))
    return numbers

