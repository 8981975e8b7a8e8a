"""Preference pairs for the night's curated instructions: k responses from the model that answered each, or the
answers of an entry's responders against each other, scored by the catalogue's reward (a reward model, or the
judge's score); chosen = best, rejected = worst."""

import datetime as dt
from functools import partial

import dagster as dg

from magpie_dagster.defs.plumbing.metering import metered
from magpie_dagster.defs.plumbing.stage_assets import night_of, nightly_asset
from magpie_dagster.defs.plumbing.stage_run import stage_run
from magpie_dagster.defs.pools import ENGINE_POOL
from magpie_dagster.defs.progress import progress_message
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.domain.catalogue import Catalogue
from magpie_dagster.domain.preference.config import PreferenceSettings
from magpie_dagster.domain.preference.pairs import (
    Score,
    answers_by_instruction,
    draw_pairs,
    preference_seed,
    sample_requests,
)
from magpie_dagster.domain.stages import PREFERENCE_PAIRS
from magpie_dagster.domain.tagging.config import RewardModelEntry
from magpie_dagster.domain.tagging.judge import JudgeItem, judge_items
from magpie_dagster.domain.tagging.tags import TAGS
from magpie_dagster.storage import curation_store, preference_store
from magpie_dagster.storage.rows import preference_pair_row


def build_preference_pairs(nights: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @nightly_asset(
        nights,
        PREFERENCE_PAIRS,
        kinds={"duckdb", "python"},
        pool=ENGINE_POOL,
        description=(
            "For curated instructions: k responses sampled from the model that answered, or (across_responders) "
            "the responders' answers, scored by the catalogue's reward (reward model or judge score); chosen = "
            "best, rejected = worst, ties skipped and counted. "
            "Table `preference_pairs`. Empty unless the catalogue has a `preference` section."
        ),
    )
    def preference_pairs(
        context: dg.AssetExecutionContext,
        catalogue: CatalogueResource,
        warehouse: WarehouseResource,
        engines: EngineResource,
    ) -> dg.MaterializeResult:
        night = night_of(context)
        settings = catalogue.catalogue.preference
        rows, ties, scored = [], 0, 0
        with stage_run(context, warehouse) as run:
            if settings is not None:
                subset = curation_store.curated_subset(run.store, night, catalogue.catalogue.model_keys)
                meter = partial(metered, context, run)
                score, reward_model = _scorer(catalogue.catalogue, engines, meter)
                if settings.across_responders:
                    candidates, sampler = answers_by_instruction(subset.iter_rows(named=True)), _their_answers
                else:
                    candidates = list(subset.iter_rows(named=True))
                    sampler = _sampler(catalogue.catalogue, engines, settings, night, meter)
                candidates = candidates[: settings.max_instructions]
                drawn = draw_pairs(
                    candidates,
                    sampler,
                    score,
                    settings.min_margin,
                    lambda done, tied: context.log.info(
                        progress_message(str(night), "preference pairs", done, len(candidates), f"scored, {tied} ties")
                    ),
                )
                rows = [preference_pair_row(pair, row, reward_model) for row, pair in drawn.pairs]
                ties, scored = drawn.ties, drawn.scored
            preference_store.replace_pairs(run.store, run.lease, night, rows, ties)
        return dg.MaterializeResult(
            metadata={
                "configured": dg.MetadataValue.bool(settings is not None),
                "instructions_scored": dg.MetadataValue.int(scored),
                "pairs": dg.MetadataValue.int(len(rows)),
                "ties_skipped": dg.MetadataValue.int(ties),
            }
        )

    return preference_pairs


def _their_answers(group: dict) -> list[str]:
    """Across responders: the answers are those the responders gave; nothing is sampled."""
    return group["responses"]


def _sampler(catalogue: Catalogue, engines: EngineResource, settings: PreferenceSettings, night: dt.date, meter):
    """Samples k responses to a curated row from the model that wrote it; chat formats are derived once per model.

    `meter(engine, label, price, model, date)`: the engine with its calls in the cost ledger, charged to the
    row's own partition."""
    formats: dict[tuple[str, dt.date], object] = {}

    def sample(row) -> list[str]:
        entry = catalogue.entry(row["response_model"])
        engine = meter(engines.engine_for(entry), entry.key, entry.price, row["model"], row["partition_date"])
        key = (entry.key, row["partition_date"])
        if key not in formats:
            formats[key] = entry.chat_format(engine, row["partition_date"])
        chat_format = formats[key]
        requests = sample_requests(
            chat_format.response_prompt(row["instruction"]),
            settings.samples,
            settings.sampling.to_params(chat_format.answer_stop_strings),
            preference_seed(row["conversation_id"], night),
        )
        return [completion.text.strip() for completion in engine.complete(requests)]

    return sample


def _scorer(catalogue: Catalogue, engines: EngineResource, meter) -> tuple[Score, str]:
    """A reward function over one curated row's responses, and the name of the model that gives it.

    Nothing connects or loads until the first call, so a night with nothing to score opens no model; the engine
    resource opens the reward model or judge once per run and closes it. The judge's calls go in the cost
    ledger (a reward model's pooling requests are not engine calls and are not counted).
    """
    judging = catalogue.judging
    if isinstance(judging.reward, RewardModelEntry):

        def by_reward_model(row, responses: list[str]) -> list[float | None]:
            client = engines.reward_model(judging.reward)
            items = [(str(i), row["instruction"], text) for i, text in enumerate(responses)]
            return [score.score for score in client.score(items)]

        return by_reward_model, judging.reward.model

    def by_judge(row, responses: list[str]) -> list[float | None]:
        judge = meter(
            engines.engine_named("judge", judging.judge), "judge", judging.judge.price, row["model"],
            row["partition_date"],
        )  # fmt: skip
        items = [JudgeItem(str(i), row["instruction"], text) for i, text in enumerate(responses)]
        results = judge_items(judge, items, TAGS["reward"], max_retries=judging.judge.max_retries)
        return [result.columns["instruct_reward"] if result.ok else None for result in results]

    return by_judge, judging.judge.model
