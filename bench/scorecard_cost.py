"""The night's scorecard on a large night: a synthetic warehouse of N usable instructions (one night, two models),
each answered, judged on three tags, embedded (384 dimensions, as MiniLM) and deduplicated (5% in near-duplicate
pairs), 30% curated; then what the `night_scorecard` asset does without Dagster: read the night's facts with SQL,
read the curated rows' embeddings, compute every number (Vendi score included), write the rows. Medians of repeats,
each in a fresh process, and that process's peak memory.

    .venv/bin/python bench/scorecard_cost.py --rows 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
from pathlib import Path

NIGHT = dt.date(2026, 11, 20)
MODELS = ["llama3_8b", "qwen25_7b"]
EMBEDDER = "packaged:all-minilm-l6-v2"


def build(path: Path, rows: int) -> None:
    from magpie_dagster.storage.warehouse import Warehouse

    warehouse = Warehouse(path)
    warehouse.ensure_schema()
    with warehouse.transaction() as c:
        c.execute(
            "CREATE TEMP TABLE ids AS SELECT i, 'c' || lpad(i::VARCHAR, 8, '0') AS id, "
            "CASE WHEN i % 2 = 0 THEN 'llama3_8b' ELSE 'qwen25_7b' END AS model FROM range(?) t(i)",
            [rows],
        )
        c.execute(f"""
            INSERT INTO instructions BY NAME SELECT id AS conversation_id, model, DATE '{NIGHT}' AS partition_date,
                i::INTEGER AS sample_index, 'Question ' || i || ': explain topic ' || (i % 9973) || '?' AS instruction,
                'Question ' || i AS raw_instruction, []::VARCHAR[] AS sanitiser_rules,
                CASE WHEN i % 50 = 0 THEN 'truncated' WHEN i % 97 = 0 THEN 'looping' END AS drop_reason,
                {{'temperature': 1.0, 'top_p': 1.0, 'max_tokens': 512, 'input_generator': model, 'seed': i,
                  'pre_query_template': ''}} AS gen_input_configs,
                10 AS prompt_tokens, 20 AS completion_tokens, 'stop' AS finish_reason, md5(id) AS fingerprint
            FROM ids""")  # fmt: skip
        c.execute("""
            INSERT INTO responses BY NAME SELECT conversation_id, model, partition_date, instruction,
                repeat('x', 20 + (sample_index * 37) % 1500) AS response,
                [{'from': 'human', 'value': instruction}, {'from': 'gpt', 'value': 'x'}] AS conversations,
                1 AS turns, 'stop' AS finish_reason,
                {'prompt': '', 'temperature': 0.0, 'top_p': 1.0, 'repetition_penalty': 1.0, 'max_tokens': 1024,
                  'stop_tokens': []::VARCHAR[], 'output_generator': model, 'engine': 'vllm'} AS gen_response_configs,
                10 AS prompt_tokens, 200 AS completion_tokens, md5(conversation_id || 'r') AS fingerprint,
                conversation_id AS instruction_id, model AS response_model
            FROM instructions WHERE drop_reason IS NULL""")  # fmt: skip
        for tag, field, labels in (
            ("difficulty", "difficulty", ["very easy", "easy", "medium", "hard", "very hard"]),
            ("quality", "input_quality", ["very poor", "poor", "average", "good", "excellent"]),
            ("category", "primary_tag", ["Math", "Reasoning", "Coding & Debugging", "Information seeking"]),
        ):
            c.execute(f"""
                INSERT INTO judgements BY NAME SELECT conversation_id, model, partition_date, '{tag}' AS tag,
                    md5(instruction) AS input_hash, 'judge' AS judge_model, '{tag}-v2' AS prompt_version,
                    CASE WHEN sample_index % 40 = 0 THEN 'failed' ELSE 'ok' END AS status,
                    json_object('{field}', {labels}[1 + sample_index % {len(labels)}]) AS fields,
                    1 AS attempts, true AS constrained, 100 AS prompt_tokens, 30 AS completion_tokens
                FROM instructions WHERE drop_reason IS NULL""")  # fmt: skip
        c.execute("""
            INSERT INTO instruction_embeddings BY NAME SELECT conversation_id, model, partition_date,
                md5(instruction) AS text_hash, 'packaged:all-minilm-l6-v2' AS embedder,
                list_transform(range(384), d -> (hash(conversation_id, d) % 1000)::FLOAT / 1000 - 0.5) AS embedding
            FROM instructions WHERE drop_reason IS NULL""")  # fmt: skip
        c.execute("""
            INSERT INTO dedup_nearest BY NAME
            SELECT conversation_id, model, partition_date, md5(instruction) AS text_hash,
                NULL AS nearest_conversation_id, 0.5 AS min_neighbor_distance, 'l2' AS distance_metric,
                0.1 AS threshold, 'packaged:all-minilm-l6-v2' AS embedder
            FROM instructions WHERE drop_reason IS NULL""")  # fmt: skip
        c.execute(f"""
            INSERT INTO dedup_pairs SELECT a.conversation_id, b.conversation_id, 0.05,
                a.model || '|{NIGHT}', b.model || '|{NIGHT}'
            FROM instructions a JOIN instructions b ON b.sample_index = a.sample_index + 1
            WHERE a.sample_index % 40 = 1 AND a.drop_reason IS NULL AND b.drop_reason IS NULL""")  # fmt: skip
        c.execute(f"""
            INSERT INTO curated_rows BY NAME SELECT DATE '{NIGHT}' AS night, 'bench' AS recipe, conversation_id, model,
                CASE WHEN sample_index % 10 < 3 THEN NULL ELSE 'min_label' END AS drop_reason,
                sample_index AS subset_rank
            FROM instructions WHERE drop_reason IS NULL""")  # fmt: skip


def score(path: str, out: multiprocessing.Queue) -> None:
    from magpie_dagster.domain.curation.presets import PRO_300K_FILTERED
    from magpie_dagster.domain.scorecard.scorecard import scorecard_rows
    from magpie_dagster.storage import leases, scorecard_store
    from magpie_dagster.storage.warehouse import Warehouse

    warehouse = Warehouse(Path(path))
    started = time.perf_counter()
    facts = scorecard_store.night_facts(warehouse, NIGHT, MODELS)
    read = time.perf_counter()
    vectors = scorecard_store.embeddings(warehouse, facts.curated["instruction_id"].to_list(), EMBEDDER)
    rows = scorecard_rows(facts, MODELS, vectors, PRO_300K_FILTERED.task_category_shares, 0.9)
    computed = time.perf_counter()
    lease = leases.acquire(warehouse, "scorecard", NIGHT.isoformat(), f"bench-{time.time()}")
    scorecard_store.replace_scorecard(warehouse, lease, NIGHT, rows)
    done = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put({"facts_s": read - started, "numbers_s": computed - read, "write_s": done - computed,
             "total_s": done - started, "peak_mb": peak_mb, "curated": rows[-1]["curated_rows"],
             "vendi": rows[-1]["diversity_vendi"]})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "magpie.duckdb"
        started = time.perf_counter()
        build(path, arguments.rows)
        built = time.perf_counter() - started
        runs = []
        for _ in range(arguments.repeats):
            queue = context.Queue()
            process = context.Process(target=score, args=(str(path), queue))
            process.start()
            runs.append(queue.get())
            process.join()
    summary = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(json.dumps({"rows": arguments.rows, "build_s": round(built, 1), "runs": runs,
                      "median": {key: round(value, 3) for key, value in summary.items()}}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
