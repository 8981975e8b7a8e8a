"""The nightly assets over all models, in order: the curated subset, preference pairs, the exports, and the
close of a round for the models with a row target."""

import dagster as dg

from magpie_dagster.defs.assets.curated_subset import build_curated_subset
from magpie_dagster.defs.assets.dataset_export import build_dataset_export
from magpie_dagster.defs.assets.night_rounds import build_night_rounds
from magpie_dagster.defs.assets.preference_pairs import build_preference_pairs


def build_curation_assets(
    nights: dg.DailyPartitionsDefinition, dedup: dg.AssetsDefinition, tags: dg.AssetsDefinition
) -> list[dg.AssetsDefinition]:
    curated_subset = build_curated_subset(nights, dedup, tags)
    preference_pairs = build_preference_pairs(nights, curated_subset)
    return [
        curated_subset,
        preference_pairs,
        build_dataset_export(nights, curated_subset, preference_pairs),
        build_night_rounds(nights, curated_subset),
    ]
