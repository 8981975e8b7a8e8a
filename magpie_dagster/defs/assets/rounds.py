"""Closing a night's round: for each model with a row target, what the curated subset now holds against the
target and what the night spent, then the next round's plan or why the night stops (`domain.rounds`)."""

import dagster as dg

from magpie_dagster.defs.metadata import markdown_table
from magpie_dagster.defs.plumbing.stage_assets import night_of, nightly_asset
from magpie_dagster.defs.plumbing.stage_run import stage_run
from magpie_dagster.defs.resources import CatalogueResource, WarehouseResource
from magpie_dagster.domain.curation.selection import shares_reached
from magpie_dagster.domain.rounds.targets import NightSoFar, close_round
from magpie_dagster.domain.stages import NIGHT_ROUNDS
from magpie_dagster.storage import costs_store, curation_store, rounds_store

ROUND_COLUMNS = [
    "model", "round", "planned_samples", "curated", "kept", "target_rows", "yield", "tokens", "cost_usd", "stop_reason"
]


def build_night_rounds(nights: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @nightly_asset(
        nights,
        NIGHT_ROUNDS,
        kinds={"duckdb"},
        description=(
            "For each model with a row target: the round just curated (samples, rows kept, yield, tokens, money) "
            "and the next round's size, or why the night stopped (target met, budget spent, max rounds). Table "
            "`night_rounds`; `magpie-dagster run` and the `night_rounds_sensor` run the next round."
        ),
    )
    def night_rounds(
        context: dg.AssetExecutionContext, catalogue: CatalogueResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        night = night_of(context)
        settings = catalogue.catalogue
        shares = settings.curation.resolved().task_category_shares
        targets = {key: target for key in settings.model_keys if (target := settings.target_of(key))}
        closed, waiting = [], {}
        with stage_run(context, warehouse) as run:
            # The night's kept rows (a join over every stage) are read only when some model has a target.
            reached = shares_reached(curation_store.curated_subset(run.store, night, list(targets))) if targets else {}
            for key, target in targets.items():
                planned = rounds_store.rounds(run.store, key, night)
                so_far = rounds_store.night_so_far(run.store, key, night)
                spent = costs_store.partition_spend(run.store, key, night)
                latest = planned[-1] if planned else _round_one(key, night, so_far["stored_samples"])
                if so_far["stored_samples"] < latest["planned_samples"]:
                    waiting[key] = f"round {latest['round']} is planned but not generated yet"
                    continue
                result = close_round(
                    target,
                    latest,
                    NightSoFar(
                        latest["round"], latest["planned_samples"], so_far["curated"],
                        spent["prompt_tokens"] + spent["completion_tokens"], spent["cost_usd"],
                    ),
                    so_far["kept"],
                    reached.get(key, {}),
                    settings.entry(key).system_prompts,
                    shares,
                )
                rounds_store.close_round(run.store, run.lease, result.outcome, result.next_round)
                context.log.info(f"[{key}|{night}] {result.summary}")
                closed.append(result)
        next_rounds = {result.outcome["model"]: result.next_round["round"] for result in closed if result.next_round}
        stopped = {result.outcome["model"]: result.outcome["stop_reason"] for result in closed if not result.next_round}
        return dg.MaterializeResult(
            metadata={
                "rounds": dg.MetadataValue.md(markdown_table([result.outcome for result in closed], ROUND_COLUMNS)),
                "stopped": dg.MetadataValue.json(stopped),
                "next_rounds": dg.MetadataValue.json(next_rounds),
                "waiting": dg.MetadataValue.json(waiting),
            }
        )

    return night_rounds


def _round_one(model: str, night, stored_samples: int) -> dict:
    """A night generated before its model had a target: what it holds is its first round."""
    return {"model": model, "partition_date": night, "round": 1, "planned_samples": stored_samples,
            "prompt_weights": None}
