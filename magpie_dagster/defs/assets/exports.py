"""The night's export files (ShareGPT and OpenAI-messages JSONL, Parquet, preference pairs, the dataset card),
written into a staging directory and published by rename, so readers never see half a night."""

from pathlib import Path

import dagster as dg

from magpie_dagster.defs.plumbing.stage_assets import night_of, nightly_asset
from magpie_dagster.defs.plumbing.stage_run import stage_run
from magpie_dagster.defs.resources import CatalogueResource, WarehouseResource
from magpie_dagster.domain.exports import formats
from magpie_dagster.domain.exports.card import write_card
from magpie_dagster.domain.exports.lineage import lineage_of
from magpie_dagster.domain.exports.publish import publish, staging_directory
from magpie_dagster.domain.stages import DATASET_EXPORT, PREFERENCE_PAIRS
from magpie_dagster.domain.tagging.config import Judging
from magpie_dagster.domain.tagging.evaluation import load_labelled_set
from magpie_dagster.storage import curation_store, decontamination_store, preference_store, scorecard_store


def build_dataset_export(nights: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @nightly_asset(
        nights,
        DATASET_EXPORT,
        kinds={"parquet", "json"},
        description=(
            "Files under data/exports/<date>/: ShareGPT and OpenAI-messages JSONL, Parquet with every column, "
            "preference pairs JSONL, and a dataset card (README.md) with the night's scorecard and a figure of the "
            "distributions."
        ),
    )
    def dataset_export(
        context: dg.AssetExecutionContext, catalogue: CatalogueResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        night = night_of(context)
        settings = catalogue.catalogue
        models = settings.model_keys
        with stage_run(context, warehouse) as run:
            target = run.store.export_directory(night)
            subset = curation_store.curated_subset(run.store, night, models)
            exported = formats.with_lineage(formats.with_reasoning(subset, settings.exports.reasoning))
            pairs = preference_store.night_pairs(run.store, night)
            directory = staging_directory(target, context.run_id)
            written = [
                formats.write_sharegpt(exported, directory / formats.SHAREGPT),
                formats.write_openai_messages(exported, directory / formats.OPENAI_MESSAGES),
                formats.write_parquet(exported, directory / formats.PARQUET),
                formats.write_preference_pairs(pairs, directory / formats.PREFERENCE),
            ]
            recipe_name, drop_reasons, skipped, ties = curation_store.curation_summary(run.store, night)
            card = write_card(
                directory,
                night=night,
                recipe_name=recipe_name,
                corpus=curation_store.night_rows(run.store, night, models),
                subset=subset,
                drop_reasons=drop_reasons,
                unusable=curation_store.unusable_rows(run.store, night, models),
                skipped_rules=skipped,
                preference_pairs=pairs.height,
                preference_ties=ties,
                files=[path.name for path in written],
                scorecard=scorecard_store.night_scorecard(run.store, night),
                lineage=lineage_of(
                    settings.models,
                    settings.judging,
                    settings.dedup,
                    decontamination_store.benchmark_sizes(run.store),
                    _labels_fingerprint(settings.judging, Path(catalogue.path).parent),
                ),
                data_files=formats.PARQUET,
                max_label_share=settings.judging.judge.max_label_share,
            )
            publish(directory, target)
        return dg.MaterializeResult(
            metadata={
                "directory": dg.MetadataValue.path(str(target)),
                "rows": dg.MetadataValue.int(subset.height),
                PREFERENCE_PAIRS: dg.MetadataValue.int(pairs.height),
                "files": dg.MetadataValue.json([path.name for path in [*written, card]]),
                "card": dg.MetadataValue.md((target / "README.md").read_text(encoding="utf-8")[:4000]),
            }
        )

    return dataset_export


def _labels_fingerprint(judging: Judging, folder: Path) -> str | None:
    """The classifier's labelled set's fingerprint (the tagging stage read the same file: it exists)."""
    return load_labelled_set(judging.classifier.labels, folder).fingerprint if judging.classifier else None
