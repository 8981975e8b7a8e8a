"""Tables of the decontamination stage and the `contamination` view an analyst reads.

`benchmark_prompts` holds each catalogue benchmark's prompts as last read (and their embeddings, made once per
file); `contamination_hits` one row per instruction, benchmark and method that found it; `contamination_checks` which
partition was checked against which benchmark, with what (`check_key`): the ledger that makes the stage incremental.
"""

from __future__ import annotations

BENCHMARK_PROMPTS = "benchmark_prompts"
HITS = "contamination_hits"
CHECKS = "contamination_checks"
CONTAMINATION_VIEW = "contamination"

DECONTAMINATION_DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {BENCHMARK_PROMPTS} (
        benchmark VARCHAR NOT NULL,
        prompt_index INTEGER NOT NULL,
        prompt VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        source_path VARCHAR NOT NULL,
        embedder VARCHAR,
        embedding FLOAT[],
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {HITS} (
        conversation_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        partition_date DATE NOT NULL,
        benchmark VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        prompt_index INTEGER NOT NULL,
        shared_words VARCHAR,
        distance DOUBLE,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {CHECKS} (
        model VARCHAR NOT NULL,
        partition_date DATE NOT NULL,
        benchmark VARCHAR NOT NULL,
        check_key VARCHAR NOT NULL,
        rows_checked INTEGER NOT NULL,
        rows_hit INTEGER NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    f"""
    CREATE OR REPLACE VIEW {CONTAMINATION_VIEW} AS
    SELECT h.conversation_id, h.model, h.partition_date, h.benchmark, h.method, h.prompt_index, p.prompt,
        h.shared_words, h.distance, h.created_at
    FROM {HITS} h LEFT JOIN {BENCHMARK_PROMPTS} p ON p.benchmark = h.benchmark AND p.prompt_index = h.prompt_index
    """,
)
