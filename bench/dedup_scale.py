"""Semantic dedup at scale: 100k and 1M synthetic unit vectors (384-d), time, peak memory, recall.

The vectors have the structure real instruction embeddings have: topic clusters (a few thousand centres, points
spread around them) and planted near-duplicates (2% of rows are perturbed copies of another row, under the
0.05 threshold). Each size runs in its own process so peak RSS is that size's own:
  exact    blocked numpy search of every row against every row (100k only: 1M would take hours here)
  approx   faiss IVF (fp16, nlist ~ 4 sqrt N, nprobe 16): build + search of every row
Recall: share of sampled rows whose approximate nearest neighbour is the exact one (same distance within 1e-4),
and share of planted near-duplicate pairs found.

    .venv/bin/python bench/dedup_scale.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from magpie_dagster.domain.dedup.approximate import build_index, search_approximate
from magpie_dagster.domain.dedup.neighbours import search

DIMENSIONS = 384


def synthetic(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(count // 300, 10), DIMENSIONS), dtype=np.float32)
    vectors = np.empty((count, DIMENSIONS), dtype=np.float32)
    for start in range(0, count, 100_000):  # float32 chunks: no float64 copy of the whole matrix
        stop = min(start + 100_000, count)
        noise = rng.standard_normal((stop - start, DIMENSIONS), dtype=np.float32) * np.float32(0.6)
        vectors[start:stop] = centres[rng.integers(len(centres), size=stop - start)] + noise
    copies = rng.choice(count, size=count // 50, replace=False)
    sources = rng.integers(count, size=len(copies))
    vectors[copies] = vectors[sources] + rng.standard_normal((len(copies), DIMENSIONS), dtype=np.float32) * np.float32(
        0.02
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, np.column_stack([copies, sources])


def run_one(count: int, sample: int) -> dict:
    vectors, planted = synthetic(count)
    everyone = np.arange(count)
    started = time.perf_counter()
    index = build_index(vectors)
    built = time.perf_counter() - started
    result = search_approximate(index, vectors, everyone)
    approx_seconds = time.perf_counter() - started
    dedup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rng = np.random.default_rng(1)
    rows = rng.choice(count, size=min(sample, count), replace=False)
    exact_sample = search(vectors[rows], vectors, rows)
    recall = float(np.mean(np.abs(result.distance[rows] - exact_sample.query_distance) <= 1e-4))
    found = {(int(a), int(b)) for a, b, _ in result.pairs}
    close = np.einsum("ij,ij->i", vectors[planted[:, 0]], vectors[planted[:, 1]]) > 1 - 0.05 / 2
    planted_pairs = [(int(a), int(b)) for a, b in planted[close] if a != b]  # those truly under the threshold
    planted_recall = float(np.mean([(a, b) in found or (b, a) in found for a, b in planted_pairs]))
    report = {
        "rows": count,
        "approx_build_s": round(built, 1),
        "approx_total_s": round(approx_seconds, 1),
        "top1_recall_vs_exact": round(recall, 4),
        "planted_near_duplicate_recall": round(planted_recall, 4),
        "recall_sample": len(rows),
        "planted_pairs_under_threshold": len(planted_pairs),
    }
    del index
    if count <= 200_000:
        started = time.perf_counter()
        search(vectors, vectors, everyone)
        report["exact_total_s"] = round(time.perf_counter() - started, 1)
    report["peak_rss_gib_dedup"] = round(dedup_peak, 2)  # data + index + search, before the recall check
    report["peak_rss_gib_with_checks"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        print(json.dumps(run_one(arguments.one, arguments.sample)))
        return
    for size in arguments.sizes:
        output = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--sample", str(arguments.sample)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        print(output.strip(), flush=True)


if __name__ == "__main__":
    main()
