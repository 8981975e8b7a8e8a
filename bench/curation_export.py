"""Curation + export over 1M synthetic tagged rows: the Pro-300K preset, then every export format.

Rows carry what the nightly stage reads from DuckDB (instruction, response, conversations, tags, dedup columns).
Times the recipe (polars), and the writers (ShareGPT JSONL, OpenAI messages JSONL, Parquet), medians of repeats.

    .venv/bin/python bench/curation_export.py --rows 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from magpie_dagster.domain.curation.presets import PRO_300K_FILTERED
from magpie_dagster.domain.curation.recipe import apply_recipe
from magpie_dagster.domain.exports import formats
from magpie_dagster.domain.tagging.labels import DIFFICULTY, INPUT_QUALITY, TASK_CATEGORIES


def synthetic(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"c{i:07d}" for i in range(rows)]
    lengths = rng.integers(20, 2000, size=rows)
    frame = pl.DataFrame(
        {
            "conversation_id": ids,
            "model": rng.choice(["llama3_8b", "qwen25_7b"], size=rows),
            "partition_date": [dt.date(2026, 11, 20)] * rows,
            "instruction": [
                f"Question {i}: explain topic {i % 9973}" + (":" if i % 97 == 0 else "?") for i in range(rows)
            ],
            "input_quality": rng.choice(INPUT_QUALITY, size=rows),
            "difficulty": rng.choice(DIFFICULTY, size=rows),
            "task_category": rng.choice(TASK_CATEGORIES, size=rows),
            "language": rng.choice(["en", "zh", "es"], size=rows, p=[0.9, 0.05, 0.05]),
            "instruct_reward": rng.normal(-5, 5, size=rows),
            "min_neighbor_distance": np.abs(rng.normal(0.3, 0.2, size=rows)) * (rng.random(rows) > 0.03),
        }
    )
    first = np.where(rng.random(rows) < 0.05, rng.integers(rows, size=rows), np.arange(rows))
    frame = frame.with_columns(
        pl.Series("min_similar_conversation_id", [ids[i] for i in first]),
        pl.Series("response", ["x" * int(n) for n in lengths]),
    )
    return frame.with_columns(
        pl.concat_list(
            pl.struct(pl.lit("human").alias("from"), pl.col("instruction").alias("value")),
            pl.struct(pl.lit("gpt").alias("from"), pl.col("response").alias("value")),
        ).alias("conversations")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    frame = synthetic(arguments.rows)
    timings: dict[str, list[float]] = {"curate": [], "sharegpt": [], "messages": [], "parquet": [], "total": []}
    kept = 0
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(arguments.repeats):
            started = time.perf_counter()
            result = apply_recipe(PRO_300K_FILTERED, frame)
            subset = result.kept
            timings["curate"].append(time.perf_counter() - started)
            for name, writer, file in (
                ("sharegpt", formats.write_sharegpt, formats.SHAREGPT),
                ("messages", formats.write_openai_messages, formats.OPENAI_MESSAGES),
                ("parquet", formats.write_parquet, formats.PARQUET),
            ):
                step = time.perf_counter()
                writer(subset, Path(directory) / file)
                timings[name].append(time.perf_counter() - step)
            timings["total"].append(time.perf_counter() - started)
            kept = subset.height
    print(
        json.dumps(
            {
                "rows": arguments.rows,
                "kept": kept,
                "seconds_median": {key: round(statistics.median(values), 2) for key, values in timings.items()},
                "drop_reasons": result.drop_counts(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
