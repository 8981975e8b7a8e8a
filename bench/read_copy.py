"""What the read copy costs a night: `publish_read_copy` on warehouses of N rows against copying the file with `cp`.

Each warehouse holds N instructions and N responses of realistic length (~600 and ~1,500 characters), written by
SQL into the real schema. A publish holds the warehouse (writers wait) while it is checkpointed and copied to a
staging file, checks that the staging file opens, then renames it over the copy; `cp` of the same file is the raw
floor. Medians of `--repeats`, the ratio within one run, the file sizes. One JSON object per size on stdout.

    .venv/bin/python bench/read_copy.py --sizes 10000 100000 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from magpie_dagster.storage.read_copy import publish_read_copy
from magpie_dagster.storage.warehouse import Warehouse

INSTRUCTION = "Explain how a hash map resolves collisions, with an example in Python and its complexity. " * 7
RESPONSE = "A hash map stores each key in a bucket chosen by its hash; two keys in one bucket collide. " * 17


def filled_warehouse(path: Path, rows: int) -> Warehouse:
    warehouse = Warehouse(path)
    warehouse.ensure_schema()
    with warehouse.transaction() as connection:
        connection.execute(
            f"""
            INSERT INTO instructions BY NAME
            SELECT 'bench-' || range AS conversation_id, 'bench' AS model, DATE '2026-11-20' AS partition_date,
                   range::INTEGER AS sample_index, '{INSTRUCTION}' || range AS instruction,
                   '{INSTRUCTION}' AS raw_instruction, []::VARCHAR[] AS sanitiser_rules,
                   {{'temperature': 1.0, 'top_p': 1.0, 'max_tokens': 256, 'input_generator': 'bench',
                     'seed': range, 'pre_query_template': '<|im_start|>user'}} AS gen_input_configs,
                   20 AS prompt_tokens, 120 AS completion_tokens, 'stop' AS finish_reason
            FROM range({rows})
            """
        )
        connection.execute(
            f"""
            INSERT INTO responses BY NAME
            SELECT conversation_id, model, partition_date, instruction, '{RESPONSE}' || sample_index AS response,
                   [{{'from': 'human', 'value': instruction}}, {{'from': 'gpt', 'value': '{RESPONSE}'}}]
                       AS conversations,
                   1 AS turns, 'stop' AS finish_reason,
                   {{'prompt': '', 'temperature': 0.7, 'top_p': 0.9, 'repetition_penalty': 1.1, 'max_tokens': 512,
                     'stop_tokens': [], 'output_generator': 'bench', 'engine': 'bench'}} AS gen_response_configs,
                   30 AS prompt_tokens, 300 AS completion_tokens
            FROM instructions
            """
        )
    return warehouse


def measure(rows: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        warehouse = filled_warehouse(Path(scratch) / "magpie.duckdb", rows)
        publish, raw = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            publish_read_copy(warehouse)
            publish.append(time.perf_counter() - start)
            start = time.perf_counter()
            shutil.copyfile(warehouse.path, Path(scratch) / "raw-copy.duckdb")
            raw.append(time.perf_counter() - start)
        return {
            "rows": rows,
            "warehouse_mb": round(warehouse.path.stat().st_size / 2**20, 1),
            "copy_mb": round(warehouse.read_copy_path.stat().st_size / 2**20, 1),
            "publish_s": round(statistics.median(publish), 3),
            "cp_s": round(statistics.median(raw), 3),
            "ratio_to_cp": round(statistics.median(publish) / statistics.median(raw), 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    for rows in arguments.sizes:
        print(json.dumps(measure(rows, arguments.repeats)), flush=True)


if __name__ == "__main__":
    main()
