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
TAG_COLUMNS = (
    "model", "response_model", "task_category", "difficulty", "input_quality", "language", "instruct_reward"
)
REASONING_COLUMNS = ("reasoning", "reasoning_closed")
LINEAGE = "lineage"
LINEAGE_FIELDS = ("instruction_id", "model", "partition_date", "instruction_fingerprint", "response_fingerprint")


def _tags(frame: pl.DataFrame) -> list[str]:
    """The fields beside the conversation: the tags a trainer may filter on, `reasoning` when kept as a field, and
    the row's `lineage`."""
    return [column for column in (*TAG_COLUMNS, "reasoning", LINEAGE) if column in frame.columns]


def with_lineage(frame: pl.DataFrame) -> pl.DataFrame:
    """Each row's way back into the warehouse: its instruction's id and partition, and the fingerprints of what
    generated the instruction and the answer (`instructions.fingerprint`, `responses.fingerprint`)."""
    fields = [column for column in LINEAGE_FIELDS if column in frame.columns]
    return frame.with_columns(pl.struct(fields).alias(LINEAGE))


def with_reasoning(frame: pl.DataFrame, mode: str) -> pl.DataFrame:
    """The subset as the exports carry reasoning (`ExportSettings.reasoning`): `field` keeps the `reasoning`
    column (every file writes it); `inline` writes it into the first answer as a `<think>` block; `omit` drops it."""
    if mode == "field" or "reasoning" not in frame.columns:
        return frame
    if mode == "inline":
        frame = frame.with_columns(
            pl.struct("conversations", "reasoning")
            .map_elements(_inline, return_dtype=frame.schema["conversations"])
            .alias("conversations")
        )
    return frame.drop([column for column in REASONING_COLUMNS if column in frame.columns])


def _inline(row: dict) -> list[dict]:
    turns = [dict(turn) for turn in row["conversations"]]
    if row["reasoning"]:
        first = next((turn for turn in turns if turn["from"] == "gpt"), None)
        if first is not None:
            first["value"] = f"<think>\n{row['reasoning']}\n</think>\n\n{first['value']}"
    return turns


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
               "chosen_reward", "rejected_reward", "reward_model", "response_models", "chosen_model",
               "rejected_model"]
    frame.select([column for column in columns if column in frame.columns]).write_ndjson(path)
    return path
