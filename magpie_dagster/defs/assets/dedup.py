"""The dedup asset: embed a partition's instructions once, compare them with the whole corpus, update in place."""

import time

import dagster as dg

from magpie_dagster.defs.partitions import model_and_date
from magpie_dagster.defs.plumbing.stage_assets import model_asset
from magpie_dagster.defs.plumbing.stage_run import stage_run
from magpie_dagster.defs.resources import CatalogueResource, EmbedderResource, WarehouseResource
from magpie_dagster.domain.dedup.corpus import update_for_partition
from magpie_dagster.domain.dedup.embedding_cache import embed_partition
from magpie_dagster.domain.stages import DEDUP_RESULTS
from magpie_dagster.storage import dedup_store, generation_store, leases

DISTANCE_METRIC = "squared_l2_unit"
CORPUS_STAGE = "dedup_corpus"  # a lease per embedder: the corpus update is one partition at a time
CORPUS_WAIT_S = 3600.0


def build_dedup_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @model_asset(
        partitions_def,
        DEDUP_RESULTS,
        kinds={"duckdb", "python"},
        description=(
            "Exact (normalised text hash) and semantic near-duplicates across the whole corpus, all models and "
            "dates: min_neighbor_distance, repeat_count, min_similar_conversation_id (first = earliest date, "
            "then model, then id). Incremental: a partition is compared with everything already stored, and only "
            "older rows it changes are updated. View `dedup_results`; tables instruction_embeddings, "
            "dedup_nearest, dedup_pairs."
        ),
    )
    def dedup_results(
        context: dg.AssetExecutionContext,
        catalogue: CatalogueResource,
        warehouse: WarehouseResource,
        embedder: EmbedderResource,
    ) -> dg.MaterializeResult:
        model_key, partition_date = model_and_date(context)
        settings = catalogue.catalogue.dedup
        with stage_run(context, warehouse) as run:
            store = run.store
            rows = [
                (row["conversation_id"], row["instruction"])
                for row in generation_store.usable_instructions(store, model_key, partition_date)
            ]
            embeddings = embed_partition(
                rows,
                dedup_store.stored_embeddings(store, model_key, partition_date, settings.embedder),
                # Loaded on first use only: a partition whose embeddings are all cached loads no model.
                lambda texts: embedder.get(settings.embedder, settings.batch_size).embed(texts),
            )
            hashes = embeddings.hashes
            dedup_store.replace_embeddings(
                store, run.lease, model_key, partition_date, settings.embedder, embeddings.rows
            )
            # The corpus is read, compared and updated by one partition at a time, so two partitions finishing
            # together each see the other's rows (incremental dedup equals a recompute).
            corpus_lease = leases.acquire(
                store,
                CORPUS_STAGE,
                settings.embedder,
                context.run_id,
                ttl_s=warehouse.lease_ttl_s,
                wait_s=CORPUS_WAIT_S,
            )
            try:
                corpus = dedup_store.corpus(store, settings.embedder)
                started = time.monotonic()
                update = update_for_partition(
                    corpus.ids,
                    corpus.vectors,
                    set(hashes),
                    dedup_store.stored_nearest(store, model_key, partition_date),
                    settings.threshold,
                )
                search_seconds = time.monotonic() - started
                dedup_store.write_partition_dedup(
                    store,
                    run.lease,
                    model=model_key,
                    partition_date=partition_date,
                    text_hashes=hashes,
                    corpus_rows=corpus,
                    nearest=update.nearest,
                    pairs=update.pairs,
                    metric=DISTANCE_METRIC,
                    threshold=settings.threshold,
                    embedder=settings.embedder,
                )
            finally:
                leases.release(corpus_lease, leases.FINISHED)
        own = [i for i in update.nearest if i in hashes]
        near = sum(1 for i in own if update.nearest[i][1] < settings.threshold)
        exact = len(hashes) - len(set(hashes.values()))
        context.log.info(f"[{run.label}] {len(own)} rows vs corpus of {len(corpus.ids)}: {near} with a near-duplicate")
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(len(rows)),
                "embedded": dg.MetadataValue.int(embeddings.embedded),
                "reused_embeddings": dg.MetadataValue.int(len(rows) - embeddings.embedded),
                "corpus_rows": dg.MetadataValue.int(len(corpus.ids)),
                "rows_with_near_duplicate": dg.MetadataValue.int(near),
                "exact_duplicates_within_partition": dg.MetadataValue.int(exact),
                "older_rows_updated": dg.MetadataValue.int(len(update.nearest) - len(own)),
                "near_duplicate_pairs": dg.MetadataValue.int(len(update.pairs)),
                "distance_metric": dg.MetadataValue.text(DISTANCE_METRIC),
                "threshold": dg.MetadataValue.float(settings.threshold),
                "embedder": dg.MetadataValue.text(settings.embedder),
                "embed_seconds": dg.MetadataValue.float(round(embeddings.seconds, 2)),
                "search_seconds": dg.MetadataValue.float(round(search_seconds, 2)),
            }
        )

    return dedup_results
