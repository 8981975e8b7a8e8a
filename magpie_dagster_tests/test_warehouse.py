"""The warehouse: schema with the released field names, partition-scoped replace, lock waits."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time

import duckdb
import pytest

from magpie_dagster.storage.schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.warehouse import Warehouse, WarehouseError

NIGHT = dt.date(2026, 11, 20)


def instruction(
    conversation_id: str, model: str = "m1", partition_date: dt.date = NIGHT, **overrides
) -> dict:
    row = {
        "conversation_id": conversation_id,
        "model": model,
        "partition_date": partition_date,
        "sample_index": 0,
        "system_prompt_name": None,
        "instruction": "What is a prime?",
        "raw_instruction": "Question: What is a prime?",
        "sanitiser_rules": ["strip_leading_label"],
        "drop_reason": None,
        "gen_input_configs": {
            "temperature": 1.0,
            "top_p": 1.0,
            "max_tokens": 64,
            "input_generator": "gen",
            "seed": 7,
            "pre_query_template": "<|im_start|>user\n",
        },
        "prompt_tokens": 5,
        "completion_tokens": 6,
        "finish_reason": "stop",
    }
    return row | overrides


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    store = Warehouse(tmp_path / "magpie.duckdb")
    store.ensure_schema()
    return store


def test_schema_has_the_released_dataset_field_names(warehouse):
    with warehouse.connect(read_only=True) as connection:
        instruction_columns = {row[0] for row in connection.execute(f"DESCRIBE {INSTRUCTIONS}").fetchall()}
        response_columns = {row[0] for row in connection.execute(f"DESCRIBE {RESPONSES}").fetchall()}
    assert {
        "conversation_id",
        "instruction",
        "gen_input_configs",
        "model",
        "finish_reason",
    } <= instruction_columns
    assert {
        "conversation_id",
        "instruction",
        "response",
        "conversations",
        "gen_response_configs",
    } <= response_columns


def test_append_and_query_with_plain_sql(warehouse):
    warehouse.append(INSTRUCTIONS, [instruction("a"), instruction("b", drop_reason="empty", instruction="")])
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            "SELECT conversation_id, gen_input_configs.seed, sanitiser_rules, created_at IS NOT NULL "
            "FROM instructions ORDER BY conversation_id"
        ).fetchall()
    assert rows == [("a", 7, ["strip_leading_label"], True), ("b", 7, ["strip_leading_label"], True)]
    assert [row["conversation_id"] for row in warehouse.kept_instructions("m1", NIGHT)] == ["a"]


def test_clear_partition_touches_only_that_partition(warehouse):
    warehouse.append(
        INSTRUCTIONS,
        [
            instruction("a"),
            instruction("b", model="m2"),
            instruction("c", partition_date=NIGHT + dt.timedelta(1)),
        ],
    )
    assert warehouse.clear_partition(INSTRUCTIONS, "m1", NIGHT) == 1
    assert warehouse.count_rows(INSTRUCTIONS, "m1", NIGHT) == 0
    assert warehouse.count_rows(INSTRUCTIONS, "m2", NIGHT) == 1
    assert warehouse.count_rows(INSTRUCTIONS, "m1", NIGHT + dt.timedelta(1)) == 1


def test_bad_row_fails_whole_batch(warehouse):
    with pytest.raises(WarehouseError, match="'instructions'.*prompt_tokens"):
        warehouse.append(INSTRUCTIONS, [instruction("a"), instruction("b", prompt_tokens="many")])
    assert warehouse.count_rows(INSTRUCTIONS, "m1", NIGHT) == 0


def test_unknown_table_is_refused(warehouse):
    with pytest.raises(ValueError, match="Unknown table"):
        warehouse.clear_partition("users; DROP TABLE instructions", "m1", NIGHT)


def _hold_lock(path: str, seconds: float, ready) -> None:
    connection = duckdb.connect(path)
    ready.set()
    time.sleep(seconds)
    connection.close()


def test_waits_for_another_writer_then_succeeds(warehouse):
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(warehouse.path), 1.5, ready))
    holder.start()
    ready.wait(30)
    started = time.monotonic()
    warehouse.append(INSTRUCTIONS, [instruction("a")])
    holder.join()
    assert time.monotonic() - started >= 0.5
    assert warehouse.count_rows(INSTRUCTIONS, "m1", NIGHT) == 1


def test_gives_up_with_a_clear_error_when_the_lock_stays(warehouse):
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(warehouse.path), 5, ready))
    holder.start()
    ready.wait(30)
    impatient = Warehouse(warehouse.path, lock_timeout_s=0.5)
    with pytest.raises(WarehouseError, match="stayed locked by another process"):
        impatient.append(INSTRUCTIONS, [instruction("a")])
    holder.terminate()
    holder.join()
