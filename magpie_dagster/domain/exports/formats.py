"""Writers for the curated subset and the preference pairs; every file loads with `datasets` and polars.

Inputs are polars frames in subset order; JSONL rows carry the conversation plus the tags a trainer may
filter on, Parquet carries every column.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

SHAREGPT = "sharegpt.jsonl"
OPENAI_MESSAGES = "messages.jsonl"
PARQUET = "curated.parquet"
PREFERENCE = "preference_pairs.jsonl"
TAG_COLUMNS = ("model", "task_category", "difficulty", "input_quality", "language", "instruct_reward")


def _tags(frame: pl.DataFrame) -> list[str]:
    return [column for column in TAG_COLUMNS if column in frame.columns]


def write_sharegpt(frame: pl.DataFrame, path: Path) -> Path:
    """`conversations`: [{from: human|gpt, value}], the whole multi-turn conversation."""
    frame.select("conversation_id", "conversations", *_tags(frame)).write_ndjson(path)
    return path


def write_openai_messages(frame: pl.DataFrame, path: Path) -> Path:
    """`messages`: [{role: user|assistant, content}], from the same conversations."""
    turns = pl.col("conversations").list.eval(
        pl.struct(
            pl.when(pl.element().struct.field("from") == "human")
            .then(pl.lit("user"))
            .otherwise(pl.lit("assistant"))
            .alias("role"),
            pl.element().struct.field("value").alias("content"),
        )
    )
    frame.select("conversation_id", turns.alias("messages"), *_tags(frame)).write_ndjson(path)
    return path


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


def write_preference_pairs(frame: pl.DataFrame, path: Path) -> Path:
    """`chosen` / `rejected`: [{role, content}] messages, with every response and its reward."""
    columns = ["conversation_id", "instruction", "responses", "rewards", "chosen", "rejected",
               "chosen_reward", "rejected_reward", "reward_model"]
    frame.select([column for column in columns if column in frame.columns]).write_ndjson(path)
    return path
