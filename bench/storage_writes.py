"""Storage write throughput: the DuckDB file vs DuckLake (PostgreSQL catalog, local Parquet), per batch size.

Each measured write is what a generation step does per finished batch: `generation_store.replace_batch` (one
transaction: lease check, upsert by conversation id) of realistic instruction rows (~600 characters each).
`--writers N` also runs N processes at once on the lake, each writing its own partition, and reports their
combined rows/s. Without `--lake-catalog` a throwaway PostgreSQL is started on a loopback port (Debian's
`postgresql`, as the tests do); medians over repeats, and the lake/file ratio.

    .venv/bin/python bench/storage_writes.py --rows 1024 --batch-sizes 8,64,512 --repeats 3 --writers 4
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test helpers start PostgreSQL

from magpie_dagster.storage import leases
from magpie_dagster.storage.generation_schema import INSTRUCTIONS
from magpie_dagster.storage.generation_store import replace_batch
from magpie_dagster.storage.warehouse import Warehouse

NIGHT = dt.date(2026, 11, 20)
TEXT = "Explain how a hash map resolves collisions, with an example in Python and its complexity. " * 7


def instruction_rows(model: str, start: int, count: int) -> list[dict]:
    return [
        {
            "conversation_id": f"{model}-{index:07d}",
            "model": model,
            "partition_date": NIGHT,
            "sample_index": index,
            "system_prompt_name": None,
            "instruction": TEXT,
            "raw_instruction": TEXT,
            "sanitiser_rules": [],
            "drop_reason": None,
            "gen_input_configs": {
                "temperature": 1.0, "top_p": 1.0, "max_tokens": 256, "input_generator": "bench", "seed": index,
                "pre_query_template": "<|im_start|>user\n",
            },
            "prompt_tokens": 12,
            "completion_tokens": 140,
            "finish_reason": "stop",
            "fingerprint": "bench",
        }
        for index in range(start, start + count)
    ]  # fmt: skip


def write_partition(warehouse: Warehouse, model: str, rows: int, batch_size: int) -> float:
    """Seconds to store `rows` new rows of one partition in batches of `batch_size`."""
    lease = leases.acquire(warehouse, "bench", f"{model}|{NIGHT}", f"bench-{model}")
    batches = [instruction_rows(model, start, min(batch_size, rows - start)) for start in range(0, rows, batch_size)]
    started = time.perf_counter()
    for batch in batches:
        replace_batch(warehouse, lease, INSTRUCTIONS, batch)
    elapsed = time.perf_counter() - started
    leases.release(lease, leases.FINISHED)
    return elapsed


def _writer(arguments: tuple) -> float:
    location, data_path, model, rows, batch_size, start_at = arguments
    warehouse = Warehouse(location, lake_data_path=data_path)
    with warehouse.connect(read_only=True):
        pass  # attach before the clock starts, as a long-running step has
    time.sleep(max(0.0, start_at - time.time()))
    return write_partition(warehouse, model, rows, batch_size)


def concurrent_rows_per_s(location: str, data_path: str | None, writers: int, rows: int, batch_size: int, tag: str):
    start_at = time.time() + 5.0
    jobs = [(location, data_path, f"{tag}-w{n}", rows, batch_size, start_at) for n in range(writers)]
    with multiprocessing.get_context("spawn").Pool(writers) as pool:
        durations = pool.map(_writer, jobs)
    return writers * rows / max(durations)


@contextlib.contextmanager
def lake_catalog(given: str | None):
    if given:
        yield given
        return
    from magpie_dagster_tests.postgres import postgres_server

    with postgres_server("lake") as server:
        yield f"dbname=lake host={server.host} port={server.port} user={server.user}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024, help="rows per measured partition")
    parser.add_argument("--batch-sizes", default="8,64,512")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--writers", type=int, default=0, help="also N concurrent writer processes on the lake")
    parser.add_argument("--lake-catalog", help="libpq conninfo of an existing, empty catalog database")
    arguments = parser.parse_args()
    batch_sizes = [int(size) for size in arguments.batch_sizes.split(",")]
    print(f"# {platform.processor() or platform.machine()}, {multiprocessing.cpu_count()} cores, {arguments.rows} rows")
    with tempfile.TemporaryDirectory() as root, lake_catalog(arguments.lake_catalog) as catalog:
        data_path = str(Path(root) / "lake-data")
        backends = {
            "file": Warehouse(Path(root) / "magpie.duckdb"),
            "lake": Warehouse(f"ducklake:postgres:{catalog}", lake_data_path=data_path),
        }
        for warehouse in backends.values():
            warehouse.ensure_schema()
        print("| batch size | DuckDB file rows/s | DuckLake rows/s | lake / file |")
        print("|---|---|---|---|")
        for batch_size in batch_sizes:
            rates: dict[str, list[float]] = {name: [] for name in backends}
            for repeat in range(arguments.repeats):
                for name, warehouse in backends.items():  # alternated, so drift hits both alike
                    seconds = write_partition(warehouse, f"b{batch_size}-r{repeat}", arguments.rows, batch_size)
                    rates[name].append(arguments.rows / seconds)
            file_rate, lake_rate = (statistics.median(rates[name]) for name in ("file", "lake"))
            print(f"| {batch_size} | {file_rate:,.0f} | {lake_rate:,.0f} | {lake_rate / file_rate:.3f} |")
        if arguments.writers:
            location = f"ducklake:postgres:{catalog}"
            print(f"\n| batch size | {arguments.writers} writers on the lake, combined rows/s | one writer rows/s |")
            print("|---|---|---|")
            for batch_size in batch_sizes:
                combined = statistics.median(
                    concurrent_rows_per_s(location, data_path, arguments.writers, arguments.rows, batch_size,
                                          f"c{batch_size}-r{repeat}")
                    for repeat in range(arguments.repeats)
                )  # fmt: skip
                single = statistics.median(
                    arguments.rows / write_partition(backends["lake"], f"s{batch_size}-r{repeat}", arguments.rows,
                                                     batch_size)
                    for repeat in range(arguments.repeats)
                )  # fmt: skip
                print(f"| {batch_size} | {combined:,.0f} | {single:,.0f} |")


if __name__ == "__main__":
    main()
