"""The night's scorecard: usable, duplicate, loop and leak rates, diversity, the category mix, the judge's health and
the preference pairs' length bias, per model and for the night. Its numbers are the asset's metadata, so the UI
plots each across nights (the asset's Plots tab); a warning check compares tonight with the nights before."""

import dataclasses

import dagster as dg

from magpie_dagster.defs.metadata import markdown_table
from magpie_dagster.defs.plumbing.metering import metered
from magpie_dagster.defs.plumbing.stage_assets import night_of, nightly_asset
from magpie_dagster.defs.plumbing.stage_run import StageRun, stage_run
from magpie_dagster.defs.pools import ENGINE_POOL
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.domain.catalogue import Catalogue
from magpie_dagster.domain.scorecard.drift import drifts
from magpie_dagster.domain.scorecard.metrics import COUNTS, TRENDED
from magpie_dagster.domain.scorecard.scorecard import NightFacts, scorecard_rows
from magpie_dagster.domain.scorecard.second_judge import second_opinions
from magpie_dagster.domain.stages import NIGHT_SCORECARD
from magpie_dagster.storage import scorecard_store

DRIFT_CHECK = "scorecard_within_bands"
AGREEMENT_CHECK = "second_judge_agrees"
SECOND_JUDGE = "second_judge"  # the engine label of `scorecard.second_judge` (the cost ledger's engine_label)


def build_night_scorecard(nights: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @nightly_asset(
        nights,
        NIGHT_SCORECARD,
        kinds={"duckdb", "polars"},
        pool=ENGINE_POOL,  # the second judge, when the catalogue has one
        check_specs=[
            dg.AssetCheckSpec(
                DRIFT_CHECK,
                asset=NIGHT_SCORECARD,
                description=(
                    "Each of the night's numbers lies within its band (catalogue `scorecard.bands`) of the median of "
                    "the trailing nights (`scorecard.trailing_nights`, 7): a warning that the night drifted."
                ),
            ),
            dg.AssetCheckSpec(
                AGREEMENT_CHECK,
                asset=NIGHT_SCORECARD,
                description=(
                    "With `scorecard.second_judge`: Cohen's kappa between the judge and the second judge is at least "
                    "`min_kappa` on every tag (passes without a second judge)."
                ),
            ),
        ],
        description=(
            "The night's quality scorecard, one row per model and the night's totals (model '*'): usable, "
            "near-duplicate, looping, truncation and template-leak rates, the curated rows' diversity (Vendi "
            "score) and category entropy, distributions, judge failure and label degeneracy, safety flags, the "
            "preference pairs' length bias, and a second judge's agreement (Cohen's kappa) when the catalogue has one. "
            "Tables `night_scorecard`, `second_judgements`."
        ),
    )
    def night_scorecard(
        context: dg.AssetExecutionContext,
        catalogue: CatalogueResource,
        warehouse: WarehouseResource,
        engines: EngineResource,
    ) -> dg.MaterializeResult:
        night = night_of(context)
        settings = catalogue.catalogue
        second = settings.scorecard.second_judge
        with stage_run(context, warehouse) as run:
            facts = scorecard_store.night_facts(run.store, night, settings.model_keys, second and second.judge.model)
            if second is not None:
                facts = _with_second_opinions(context, run, engines, settings, facts)
            curated_ids = facts.curated["instruction_id"].to_list()
            rows = scorecard_rows(
                facts,
                settings.model_keys,
                scorecard_store.embeddings(run.store, curated_ids, settings.dedup.embedder),
                settings.curation.resolved().task_category_shares,
                settings.judging.judge.max_label_share,
            )
            scorecard_store.replace_scorecard(run.store, run.lease, night, rows)
            earlier = scorecard_store.earlier_totals(run.store, night, settings.scorecard.trailing_nights)
        totals = rows[-1]
        bands = settings.scorecard.effective_bands()
        found = drifts(totals, earlier, bands, settings.scorecard.min_nights)
        kappas = totals["judge_kappa"]
        low = {tag: kappa for tag, kappa in kappas.items() if kappa < second.min_kappa} if second else {}
        if found:
            context.log.warning(f"[{night}] the scorecard drifted: " + "; ".join(drift.describe() for drift in found))
        if low:
            context.log.warning(f"[{night}] the two judges' kappa is under min_kappa {second.min_kappa}: {low}")
        return dg.MaterializeResult(
            metadata={
                **_numbers(totals),
                "by_model": dg.MetadataValue.md(markdown_table(rows, ["model", *TRENDED])),
                "task_category_shares": dg.MetadataValue.json(totals["task_category_shares"]),
                "degenerate_tags": dg.MetadataValue.json(totals["degenerate_tags"]),
                "judge_kappa": dg.MetadataValue.json(totals["judge_kappa"]),
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
                ),
                dg.AssetCheckResult(
                    check_name=AGREEMENT_CHECK,
                    passed=not low,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "kappa_under_floor": dg.MetadataValue.json(low),
                        "judge_kappa": dg.MetadataValue.json(totals["judge_kappa"]),
                        "judge_agreement": dg.MetadataValue.json(totals["judge_agreement"]),
                        "min_kappa": dg.MetadataValue.float(second.min_kappa if second else 0.0),
                    },
                ),
            ],
        )

    return night_scorecard


def _with_second_opinions(
    context: dg.AssetExecutionContext, run: StageRun, engines: EngineResource, settings: Catalogue, facts: NightFacts
) -> NightFacts:
    """The second judge's opinions on the night's sample (those already stored are not asked again), stored, and
    the facts with them. Its calls are metered to the partition of the rows it judges."""
    second = settings.scorecard.second_judge
    night = night_of(context)

    def open_judge(model, partition_date):
        engine = engines.engine_named(SECOND_JUDGE, second.judge)
        return metered(context, run, engine, SECOND_JUDGE, second.judge.price, model, partition_date)

    done = {
        (row["conversation_id"], row["tag"])
        for row in facts.second_opinions.iter_rows(named=True)
        if row["status"] == "ok"
    }
    judge = settings.judging.judge
    versions = {tag: judge.prompt_version(tag) for tag in second.judge.tags if tag in settings.judging.judged_tags}
    opinions = second_opinions(facts.answered, second, versions, night.isoformat(), open_judge, done)
    scorecard_store.write_second_opinions(run.store, run.lease, night, opinions)
    stored = scorecard_store.second_opinions(run.store, night, settings.model_keys, second.judge.model)
    return dataclasses.replace(facts, second_opinions=stored)


def _numbers(totals: dict) -> dict[str, dg.MetadataValue]:
    """The night's totals as numeric metadata: Dagster plots each one across the asset's materialisations."""
    numbers = {}
    for metric in TRENDED:
        value = totals.get(metric)
        if value is None:
            continue
        numbers[metric] = dg.MetadataValue.int(value) if metric in COUNTS else dg.MetadataValue.float(float(value))
    return numbers

