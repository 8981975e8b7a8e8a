"""The decontamination asset: a partition's usable instructions against the catalogue's benchmark prompt files.

Incremental like dedup: a run checks its own partition against every benchmark, and every other partition once
against a benchmark (or setting) it was never checked with, so a new benchmark file re-checks the corpus once.
"""

import time
from pathlib import Path

import dagster as dg
import numpy as np

from magpie_dagster.defs.partitions import model_and_date
from magpie_dagster.defs.plumbing.stage_assets import model_asset
from magpie_dagster.defs.plumbing.stage_run import BAD_ENVIRONMENT, EXIT_CODE, stage_run
from magpie_dagster.defs.resources import CatalogueResource, EmbedderResource, WarehouseResource
from magpie_dagster.domain.decontamination.benchmarks import Benchmark, BenchmarkFileError, load_benchmark
from magpie_dagster.domain.decontamination.check import BenchmarkMatcher, partitions_to_check
from magpie_dagster.domain.decontamination.config import DecontaminationSettings
from magpie_dagster.domain.dedup.embedding_cache import embed_partition
from magpie_dagster.domain.stages import BENCHMARK_CONTAMINATION
from magpie_dagster.storage import decontamination_store, dedup_store, generation_store, leases
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.warehouse import Warehouse

CORPUS_STAGE = "decontamination_corpus"  # one run at a time reads the ledger and writes any partition's hits
CORPUS_KEY = "benchmarks"
CORPUS_WAIT_S = 3600.0


def build_decontamination_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @model_asset(
        partitions_def,
        BENCHMARK_CONTAMINATION,
        kinds={"duckdb", "python"},
        description=(
            "Usable instructions that repeat a benchmark prompt listed in the catalogue's `decontamination` "
            "section: the same normalised text (exact), 13 words in a row (ngram), or an embedding nearer than "
            "max_distance (embedding). View `contamination` (which benchmark, which prompt, how); the recipe rule "
            "`not_contaminated` drops them."
        ),
    )
    def benchmark_contamination(
        context: dg.AssetExecutionContext,
        catalogue: CatalogueResource,
        warehouse: WarehouseResource,
        embedder: EmbedderResource,
    ) -> dg.MaterializeResult:
        own = model_and_date(context)
        settings = catalogue.catalogue.decontamination
        dedup = catalogue.catalogue.dedup
        benchmarks = _benchmarks(settings, Path(catalogue.path).parent)
        embed = _embed_fn(embedder, dedup.embedder, dedup.batch_size)
        started = time.monotonic()
        with stage_run(context, warehouse) as run:
            corpus_lease = leases.acquire(
                run.store, CORPUS_STAGE, CORPUS_KEY, context.run_id, ttl_s=warehouse.lease_ttl_s, wait_s=CORPUS_WAIT_S
            )
            try:
                forgotten = decontamination_store.forget_other_benchmarks(
                    run.store, corpus_lease, [benchmark.name for benchmark in benchmarks]
                )
                matchers = {
                    benchmark.name: BenchmarkMatcher(
                        benchmark, settings, _prompt_vectors(run.store, corpus_lease, benchmark, settings, dedup, embed)
                    )
                    for benchmark in benchmarks
                }
                keys = {b.name: settings.check_key(b.fingerprint, dedup.embedder) for b in benchmarks}
                plan = partitions_to_check(
                    own, decontamination_store.partitions(run.store), decontamination_store.checked(run.store), keys
                )
                found = {
                    partition: check_partition(
                        run.store,
                        [run.lease, corpus_lease] if partition == own else [corpus_lease],
                        partition,
                        [matchers[name] for name in names],
                        {name: keys[name] for name in names},
                        lambda rows, stored: vectors_of(rows, stored, settings, embed),
                        dedup.embedder,
                    )
                    for partition, names in plan.items()
                }
            finally:
                leases.release(corpus_lease, leases.FINISHED)
        earlier = {f"{model}|{date}": counts for (model, date), counts in found.items() if (model, date) != own}
        if any(earlier.values()):
            context.log.warning(
                f"[{run.label}] a new benchmark or setting found leaks in earlier partitions: {earlier}; "
                "re-materialise curated_subset for their nights to drop them"
            )
        context.log.info(f"[{run.label}] {len(benchmarks)} benchmark(s): {found.get(own, {})}")
        return dg.MaterializeResult(
            metadata={
                "benchmarks": dg.MetadataValue.json(
                    {b.name: {"prompts": len(b.prompts), "path": str(b.path), "fingerprint": b.fingerprint}
                     for b in benchmarks}
                ),
                "rows_hit": dg.MetadataValue.json(found.get(own, {})),
                "earlier_partitions_checked": dg.MetadataValue.int(len(plan) - (own in plan)),
                "earlier_rows_hit": dg.MetadataValue.json(earlier),
                "hits_of_removed_benchmarks_deleted": dg.MetadataValue.int(forgotten),
                "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
            }
        )

    return benchmark_contamination


def _benchmarks(settings: DecontaminationSettings, folder: Path) -> list[Benchmark]:
    try:
        return [load_benchmark(entry, folder) for entry in settings.benchmarks]
    except BenchmarkFileError as error:
        raise dg.Failure(
            description=f"decontamination: {error}", metadata={EXIT_CODE: BAD_ENVIRONMENT}, allow_retries=False
        ) from None


def _embed_fn(embedder: EmbedderResource, model: str, batch_size: int):
    """Loads the embedder on first use only: a night whose vectors are all stored loads no model."""
    return lambda texts: embedder.get(model, batch_size).embed(texts)


def _prompt_vectors(
    store: Warehouse, lease: Lease, benchmark: Benchmark, settings: DecontaminationSettings, dedup, embed
) -> np.ndarray | None:
    """The benchmark's prompt embeddings: stored once per file and embedder, embedded when the file is new."""
    embedder = dedup.embedder if settings.max_distance is not None else None
    if decontamination_store.stored_benchmarks(store).get(benchmark.name) != (benchmark.fingerprint, embedder):
        vectors = embed(list(benchmark.prompts)) if embedder else None
        decontamination_store.replace_prompts(store, lease, benchmark, embedder, vectors)
    return decontamination_store.prompt_vectors(store, benchmark.name) if embedder else None


def check_partition(store, holders, partition, matchers, keys, vectors_of, embedder: str) -> dict[str, int]:
    """Checks one partition against `matchers` and stores its hits and ledger rows; benchmark -> rows hit."""
    model, date = partition
    rows = [
        (row["conversation_id"], row["instruction"])
        for row in generation_store.usable_instructions(store, model, date)
    ]
    vectors = vectors_of(rows, dedup_store.stored_embeddings(store, model, date, embedder))
    hits = [hit for matcher in matchers for hit in matcher.hits(rows, vectors)]
    decontamination_store.write_checks(store, holders, model, date, keys, len(rows), hits)
    ids: dict[str, set[str]] = {name: set() for name in keys}
    for hit in hits:
        ids[hit.benchmark].add(hit.conversation_id)
    return {name: len(hit_ids) for name, hit_ids in sorted(ids.items())}


def vectors_of(rows, stored, settings: DecontaminationSettings, embed) -> np.ndarray | None:
    """The rows' embeddings: dedup's stored vectors, the rest embedded; none when embeddings are off."""
    if settings.max_distance is None or not rows:
        return None
    return np.stack([vector for _, _, vector in embed_partition(rows, stored, embed).rows])
