"""Where the dedup asset should switch from the exact search to faiss: `update_for_partition` (what the asset
runs per partition) on a corpus of N rows whose newest Q rows are the partition, both ways.

  exact  the blocked numpy search of the Q rows against the corpus (one pass finds both directions)
  faiss  an IVF index built over the corpus, searched for the Q rows, plus the exact reverse direction (each
         corpus row's nearest partition row) through a flat index over the Q rows

Vectors as in `bench/dedup_scale.py` (topic clusters, 2% planted near-duplicates). Alternating order, medians.

    .venv/bin/python bench/dedup_crossover.py --corpus 100000 --partitions 2000 20000 100000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from dedup_scale import synthetic  # noqa: E402

from magpie_dagster.domain.dedup.corpus import update_for_partition  # noqa: E402

PATHS = {"exact": 10**12, "faiss": 0}  # approximate_above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, nargs="+", default=[2_000, 20_000, 100_000])
    parser.add_argument("--repeats", type=int, default=2)
    arguments = parser.parse_args()
    vectors, _ = synthetic(arguments.corpus)
    ids = [f"r{index:07d}" for index in range(arguments.corpus)]
    report = []
    for rows in arguments.partitions:
        partition = set(ids[-rows:])
        seconds: dict[str, list[float]] = {path: [] for path in PATHS}
        for repeat in range(arguments.repeats):
            for path in PATHS if repeat % 2 == 0 else reversed(PATHS):
                started = time.perf_counter()
                update_for_partition(ids, vectors, partition, {}, approximate_above=PATHS[path])
                seconds[path].append(time.perf_counter() - started)
        medians = {path: statistics.median(values) for path, values in seconds.items()}
        report.append({
            "corpus_rows": arguments.corpus,
            "partition_rows": rows,
            "seconds_median": {path: round(value, 2) for path, value in medians.items()},
            "faiss_over_exact": round(medians["faiss"] / medians["exact"], 2),
        })  # fmt: skip
        print(json.dumps(report[-1]), flush=True)


if __name__ == "__main__":
    main()
