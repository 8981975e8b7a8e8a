"""The pipeline's stages and the assets each materialises, once.

The asset builders take their names, groups and upstream assets from here; the night gate, the sensors and the
command line read the same list. A stage lives at one address in every layer: `domain/<stage>/`,
`storage/<stage>_schema.py` + `storage/<stage>_store.py`, `defs/assets/<stage>.py` (docs/layout.md).
"""

from __future__ import annotations

from dataclasses import dataclass

GENERATION = "generation"
TAGGING = "tagging"
DEDUP = "dedup"
DECONTAMINATION = "decontamination"
CURATION = "curation"
PREFERENCE = "preference"
SCORECARD = "scorecard"
EXPORTS = "exports"
ROUNDS = "rounds"
COSTS = "costs"  # no asset of its own: every stage that calls an engine meters its calls to the cost ledger
STAGES = (GENERATION, TAGGING, DEDUP, DECONTAMINATION, CURATION, PREFERENCE, SCORECARD, EXPORTS, ROUNDS, COSTS)

RAW_INSTRUCTIONS = "raw_instructions"
RESPONSES = "responses"
INSTRUCTION_TAGS = "instruction_tags"
DEDUP_RESULTS = "dedup_results"
BENCHMARK_CONTAMINATION = "benchmark_contamination"
CURATED_SUBSET = "curated_subset"
PREFERENCE_PAIRS = "preference_pairs"
NIGHT_SCORECARD = "night_scorecard"
DATASET_EXPORT = "dataset_export"
NIGHT_ROUNDS = "night_rounds"


@dataclass(frozen=True)
class StageAsset:
    name: str  # the asset key
    stage: str
    reads: tuple[str, ...]  # the assets it reads: its dependencies, and what it must be newer than
    per_model: bool  # partitioned by model x date; otherwise by night, over every model
    group: str  # the UI's asset group

    @property
    def nightly(self) -> bool:
        return not self.per_model


ASSETS = (
    StageAsset(RAW_INSTRUCTIONS, GENERATION, (), per_model=True, group=GENERATION),
    StageAsset(RESPONSES, GENERATION, (RAW_INSTRUCTIONS,), per_model=True, group=GENERATION),
    StageAsset(INSTRUCTION_TAGS, TAGGING, (RAW_INSTRUCTIONS, RESPONSES), per_model=True, group=TAGGING),
    StageAsset(DEDUP_RESULTS, DEDUP, (RAW_INSTRUCTIONS,), per_model=True, group=DEDUP),
    # After dedup: it reads the instructions' embeddings dedup stored.
    StageAsset(
        BENCHMARK_CONTAMINATION, DECONTAMINATION, (RAW_INSTRUCTIONS, DEDUP_RESULTS), per_model=True, group=DEDUP
    ),
    StageAsset(
        CURATED_SUBSET,
        CURATION,
        (DEDUP_RESULTS, BENCHMARK_CONTAMINATION, INSTRUCTION_TAGS),
        per_model=False,
        group=CURATION,
    ),
    StageAsset(PREFERENCE_PAIRS, PREFERENCE, (CURATED_SUBSET,), per_model=False, group=CURATION),
    StageAsset(NIGHT_SCORECARD, SCORECARD, (CURATED_SUBSET, PREFERENCE_PAIRS), per_model=False, group=CURATION),
    StageAsset(
        DATASET_EXPORT, EXPORTS, (CURATED_SUBSET, PREFERENCE_PAIRS, NIGHT_SCORECARD), per_model=False, group=CURATION
    ),
    StageAsset(NIGHT_ROUNDS, ROUNDS, (CURATED_SUBSET,), per_model=False, group=CURATION),
)
_BY_NAME = {asset.name: asset for asset in ASSETS}
PER_MODEL_ASSETS = tuple(asset.name for asset in ASSETS if asset.per_model)
NIGHTLY_ASSETS = tuple(asset.name for asset in ASSETS if asset.nightly)
GENERATION_ASSETS = tuple(asset.name for asset in ASSETS if asset.stage == GENERATION)


def stage_asset(name: str) -> StageAsset:
    return _BY_NAME[name]
