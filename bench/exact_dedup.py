"""The exact dedup search against its floor, a bare float32 blocked matrix product with a top-1 per row.

Both search every row of N synthetic 384-d unit vectors (topic clusters, 2% planted near-duplicates; the data of
`bench/dedup_scale.py`) against all rows. `search` also finds each corpus row's nearest query and every pair under
the threshold, which the floor does not: the ratio says what those cost. Alternating order, medians.

    .venv/bin/python bench/exact_dedup.py --rows 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from dedup_scale import synthetic

from magpie_dagster.domain.dedup.neighbours import block_rows, search


def top1_floor(vectors: np.ndarray) -> np.ndarray:
    """Nearest other row by a blocked matrix product and an argmax: nothing else."""
    count = len(vectors)
    block = block_rows(count)
    nearest = np.empty(count, dtype=np.int64)
    for start in range(0, count, block):
        stop = min(start + block, count)
        similarities = vectors[start:stop] @ vectors.T
        similarities[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        nearest[start:stop] = similarities.argmax(axis=1)
    return nearest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    vectors, _ = synthetic(arguments.rows)
    everyone = np.arange(arguments.rows)
    seconds: dict[str, list[float]] = {"search": [], "floor": []}
    for repeat in range(arguments.repeats):
        for name in ("search", "floor") if repeat % 2 == 0 else ("floor", "search"):
            started = time.perf_counter()
            if name == "search":
                found = search(vectors, vectors, everyone)
            else:
                nearest = top1_floor(vectors)
            seconds[name].append(time.perf_counter() - started)
    agree = float(np.mean(found.query_nearest == nearest))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(
        json.dumps(
            {
                "rows": arguments.rows,
                "repeats": arguments.repeats,
                "seconds_median": {name: round(value, 1) for name, value in medians.items()},
                "seconds_all": {name: [round(v, 1) for v in values] for name, values in seconds.items()},
                "search_over_floor": round(medians["search"] / medians["floor"], 2),
                "same_nearest_share": round(agree, 4),
                "pairs_found": len(found.pairs),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
