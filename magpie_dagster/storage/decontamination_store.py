"""Every SQL statement of the decontamination stage: benchmark prompts kept once per file, the ledger of checks,
a partition's hits replaced per benchmark with its ledger rows in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pyarrow as pa

from magpie_dagster.domain.decontamination.benchmarks import Benchmark
from magpie_dagster.domain.decontamination.check import Hit
from magpie_dagster.storage.decontamination_schema import BENCHMARK_PROMPTS, CHECKS, HITS
from magpie_dagster.storage.generation_schema import INSTRUCTIONS
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.tables import replace_scope, upsert
from magpie_dagster.storage.warehouse import Warehouse


def stored_benchmarks(warehouse: Warehouse) -> dict[str, tuple[str, str | None]]:
    """benchmark -> (fingerprint, embedder) of the prompts stored for it."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"SELECT benchmark, any_value(fingerprint), any_value(embedder) FROM {BENCHMARK_PROMPTS} GROUP BY 1"
        ).fetchall()
    return {name: (fingerprint, embedder) for name, fingerprint, embedder in rows}


def benchmark_sizes(warehouse: Warehouse) -> dict[str, int]:
    """benchmark -> prompts, of the benchmarks last checked against (the catalogue's at the last check)."""
    with warehouse.connect(read_only=True) as connection:
        return dict(
            connection.execute(f"SELECT benchmark, count(*) FROM {BENCHMARK_PROMPTS} GROUP BY 1 ORDER BY 1").fetchall()
        )


def prompt_vectors(warehouse: Warehouse, benchmark: str) -> np.ndarray:
    """The benchmark's stored prompt embeddings, in prompt order."""
    with warehouse.connect(read_only=True) as connection:
        table = connection.execute(
            f"SELECT embedding FROM {BENCHMARK_PROMPTS} WHERE benchmark = ? ORDER BY prompt_index", [benchmark]
        ).to_arrow_table()
    embeddings = table.column("embedding").combine_chunks()
    width = len(embeddings[0]) if len(embeddings) else 1
    return embeddings.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, width)


def replace_prompts(
    warehouse: Warehouse, lease: Lease, benchmark: Benchmark, embedder: str | None, vectors: np.ndarray | None
) -> None:
    count = len(benchmark.prompts)
    batch = pa.table(
        {
            "benchmark": [benchmark.name] * count,
            "prompt_index": pa.array(range(count), type=pa.int32()),
            "prompt": list(benchmark.prompts),
            "fingerprint": [benchmark.fingerprint] * count,
            "source_path": [str(benchmark.path)] * count,
            "embedder": [embedder] * count,
            "embedding": pa.array(
                [None] * count if vectors is None else [vector.tolist() for vector in vectors],
                type=pa.list_(pa.float32()),
            ),
        }
    )
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        replace_scope(connection, BENCHMARK_PROMPTS, "benchmark = ?", [benchmark.name], batch)


def forget_other_benchmarks(warehouse: Warehouse, lease: Lease, keep: Collection[str]) -> int:
    """Deletes the prompts, hits and checks of benchmarks no longer in the catalogue; returns the hits deleted."""
    names = list(keep)
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        deleted = 0
        for table in (HITS, CHECKS, BENCHMARK_PROMPTS):
            count = connection.execute(
                f"DELETE FROM {table} WHERE NOT list_contains(?, benchmark)", [names]
            ).fetchone()[0]
            deleted += count if table == HITS else 0
    return int(deleted)


def checked(warehouse: Warehouse) -> dict[tuple[tuple[str, dt.date], str], str]:
    """((model, date), benchmark) -> the check key the partition was last checked with."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(f"SELECT model, partition_date, benchmark, check_key FROM {CHECKS}").fetchall()
    return {((model, date), benchmark): key for model, date, benchmark, key in rows}


def partitions(warehouse: Warehouse) -> list[tuple[str, dt.date]]:
    """Every (model, date) holding instructions, oldest first."""
    with warehouse.connect(read_only=True) as connection:
        return connection.execute(
            f"SELECT DISTINCT model, partition_date FROM {INSTRUCTIONS} ORDER BY partition_date, model"
        ).fetchall()


def write_checks(
    warehouse: Warehouse,
    holders: Sequence[Lease],
    model: str,
    partition_date: dt.date,
    keys: Mapping[str, str],
    rows_checked: int,
    hits: Sequence[Hit],
) -> None:
    """The partition's hits of the benchmarks in `keys` (benchmark -> check key) become exactly `hits`, and the
    ledger records each check, in one transaction: a killed run leaves a partition checked entirely or not at all."""
    batch = pa.table(
        {
            "conversation_id": [hit.conversation_id for hit in hits],
            "model": [model] * len(hits),
            "partition_date": [partition_date] * len(hits),
            "benchmark": [hit.benchmark for hit in hits],
            "method": [hit.method for hit in hits],
            "prompt_index": pa.array([hit.prompt_index for hit in hits], type=pa.int32()),
            "shared_words": pa.array([hit.shared_words for hit in hits], type=pa.string()),
            "distance": pa.array([hit.distance for hit in hits], type=pa.float64()),
        }
    )
    ledger = pa.table(
        {
            "model": [model] * len(keys),
            "partition_date": [partition_date] * len(keys),
            "benchmark": list(keys),
            "check_key": list(keys.values()),
            "rows_checked": pa.array([rows_checked] * len(keys), type=pa.int32()),
            "rows_hit": pa.array(
                [len({hit.conversation_id for hit in hits if hit.benchmark == name}) for name in keys],
                type=pa.int32(),
            ),
        }
    )
    with warehouse.transaction() as connection:
        for lease in holders:
            lease.assert_held(connection)
        replace_scope(
            connection,
            HITS,
            "model = ? AND partition_date = ? AND list_contains(?, benchmark)",
            [model, partition_date, list(keys)],
            batch,
        )
        upsert(connection, CHECKS, ledger)
