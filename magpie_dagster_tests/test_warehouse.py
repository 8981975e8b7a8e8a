"""The warehouse: schema with the released field names, unique keys, rows replaced by their replacements, schema
upgrades, lock waits."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time

import duckdb
import pytest

from magpie_dagster.storage import generation_store, leases
from magpie_dagster.storage.errors import WarehouseError
from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.schema import DDL, UNIQUE_KEYS
from magpie_dagster.storage.warehouse import Warehouse

NIGHT = dt.date(2026, 11, 20)


def instruction(conversation_id: str, model: str = "m1", partition_date: dt.date = NIGHT, **overrides) -> dict:
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


@pytest.fixture
def lease(warehouse) -> leases.Lease:
    return leases.acquire(warehouse, "raw_instructions", "m1|2026-11-20", "run-1")


def count(warehouse, sql: str) -> int:
    with warehouse.connect(read_only=True) as connection:
        return connection.execute(sql).fetchone()[0]


def test_rows_are_stored_and_queried_with_plain_sql(warehouse, lease):
    rows = [instruction("a"), instruction("b", drop_reason="empty", instruction="")]
    assert generation_store.replace_batch(warehouse, lease, INSTRUCTIONS, rows) == 0
    with warehouse.connect(read_only=True) as connection:
        stored = connection.execute(
            "SELECT conversation_id, gen_input_configs.seed, sanitiser_rules, created_at IS NOT NULL "
            "FROM instructions ORDER BY conversation_id"
        ).fetchall()
    assert stored == [("a", 7, ["strip_leading_label"], True), ("b", 7, ["strip_leading_label"], True)]
    assert [row["conversation_id"] for row in generation_store.usable_instructions(warehouse, "m1", NIGHT)] == ["a"]


def test_a_batch_replaces_exactly_the_rows_with_its_ids(warehouse, lease):
    generation_store.replace_batch(warehouse, lease, INSTRUCTIONS, [instruction("a"), instruction("b")])
    with warehouse.connect(read_only=True) as connection:
        first = dict(connection.execute("SELECT conversation_id, created_at FROM instructions").fetchall())
    time.sleep(0.01)
    replaced = generation_store.replace_batch(
        warehouse, lease, INSTRUCTIONS, [instruction("b", instruction="new b"), instruction("c")]
    )
    assert replaced == 1
    with warehouse.connect(read_only=True) as connection:
        stored = connection.execute("SELECT conversation_id, instruction FROM instructions ORDER BY 1").fetchall()
    assert stored == [("a", "What is a prime?"), ("b", "new b"), ("c", "What is a prime?")]
    with warehouse.connect(read_only=True) as connection:
        now = dict(connection.execute("SELECT conversation_id, created_at FROM instructions").fetchall())
    assert now["a"] == first["a"] and now["b"] > first["b"], "a replacement is stamped anew, the rest untouched"


def test_remove_all_but_touches_only_that_partition(warehouse, lease):
    rows = [
        instruction("a"),
        instruction("b"),
        instruction("c", model="m2"),
        instruction("d", partition_date=NIGHT + dt.timedelta(1)),
    ]
    generation_store.replace_batch(warehouse, lease, INSTRUCTIONS, rows)
    assert generation_store.remove_all_but(warehouse, lease, INSTRUCTIONS, "m1", NIGHT, keep={"a"}) == 1
    assert count(warehouse, "SELECT count(*) FROM instructions") == 3
    assert count(warehouse, "SELECT count(*) FROM instructions WHERE conversation_id = 'b'") == 0


def test_a_duplicate_key_cannot_be_committed(warehouse, lease):
    generation_store.replace_batch(warehouse, lease, INSTRUCTIONS, [instruction("a")])
    with (
        pytest.raises(WarehouseError, match=r"Duplicate key.*conversation_id: a"),
        warehouse.transaction() as connection,
    ):
        connection.execute("INSERT INTO instructions BY NAME SELECT * EXCLUDE (created_at) FROM instructions")
    assert count(warehouse, "SELECT count(*) FROM instructions") == 1


def test_every_table_has_its_unique_key(warehouse):
    with warehouse.connect(read_only=True) as connection:
        indexes = {
            table: sql for table, sql in connection.execute("SELECT table_name, sql FROM duckdb_indexes()").fetchall()
        }
    assert set(indexes) == set(UNIQUE_KEYS)
    for table, columns in UNIQUE_KEYS.items():
        assert "UNIQUE" in indexes[table] and all(column in indexes[table] for column in columns)


def test_a_batch_written_after_the_lease_was_taken_over_is_refused(warehouse, lease):
    with warehouse.transaction() as connection:
        connection.execute("UPDATE stage_leases SET run_id = 'run-2', holder = 'elsewhere:1'")
    with pytest.raises(leases.LeaseLost, match=r"m1\|2026-11-20.*run run-2.*not written"):
        generation_store.replace_batch(warehouse, lease, INSTRUCTIONS, [instruction("a")])
    assert count(warehouse, "SELECT count(*) FROM instructions") == 0


def test_bad_row_fails_whole_batch(warehouse, lease):
    with pytest.raises(WarehouseError, match="'instructions'.*prompt_tokens"):
        generation_store.replace_batch(
            warehouse, lease, INSTRUCTIONS, [instruction("a"), instruction("b", prompt_tokens="many")]
        )
    assert count(warehouse, "SELECT count(*) FROM instructions") == 0


def test_unknown_table_is_refused(warehouse):
    with pytest.raises(ValueError, match="Unknown table"):
        generation_store.stored_fingerprints(warehouse, "users; DROP TABLE instructions", "m1", NIGHT)


def version_1_warehouse(path, *statements: str) -> None:
    """A warehouse as version 1 wrote it: no fingerprint columns, no unique keys."""
    with duckdb.connect(str(path)) as connection:
        for statement in DDL:
            if statement.lstrip().startswith("CREATE TABLE"):
                connection.execute(statement.replace("fingerprint VARCHAR,", ""))
        connection.execute("INSERT INTO magpie_warehouse (schema_version) VALUES (1)")
        for statement in statements:
            connection.execute(statement)


def test_a_version_1_warehouse_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.duckdb"
    version_1_warehouse(
        path, "INSERT INTO curation_runs (night, recipe, skipped_rules) VALUES ('2026-11-20', 'r', '{}')"
    )
    Warehouse(path).ensure_schema()
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("SELECT max(schema_version), count(*) FROM magpie_warehouse").fetchone() == (2, 1)
        assert connection.execute("SELECT recipe FROM curation_runs").fetchall() == [("r",)]
        columns = {row[0] for row in connection.execute("DESCRIBE instructions").fetchall()}
    assert "fingerprint" in columns


def test_answers_stored_before_responders_and_reasoning_are_upgraded_in_place(tmp_path):
    """A version-2 warehouse from before responders: its answers become each model's answer to its own instruction."""
    path = tmp_path / "v2.duckdb"
    newer = ("reasoning VARCHAR,", "reasoning_closed BOOLEAN,", "instruction_id VARCHAR,", "response_model VARCHAR")
    with duckdb.connect(str(path)) as connection:
        for statement in DDL:
            if statement.lstrip().startswith(f"CREATE TABLE IF NOT EXISTS {RESPONSES} "):
                for column in newer:
                    statement = statement.replace(column, "")
                statement = statement.replace("current_timestamp,", "current_timestamp")
            if statement.lstrip().startswith("CREATE TABLE"):
                connection.execute(statement)
        connection.execute("INSERT INTO magpie_warehouse (schema_version) VALUES (2)")
        connection.execute(
            "INSERT INTO responses (conversation_id, model, partition_date, instruction, response, conversations, "
            "turns, finish_reason, gen_response_configs, prompt_tokens, completion_tokens) VALUES ('c1', 'm1', "
            "'2026-11-20', 'Q?', 'A.', [], 1, 'stop', {'prompt': 'p'}, 1, 1)"
        )
        connection.execute(f"CREATE UNIQUE INDEX responses_key ON responses ({', '.join(UNIQUE_KEYS[RESPONSES])})")
        assert "response_model" not in {row[0] for row in connection.execute("DESCRIBE responses").fetchall()}
    Warehouse(path).ensure_schema()
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute(
            "SELECT conversation_id, instruction_id, response_model, reasoning FROM responses"
        ).fetchall() == [("c1", "c1", "m1", None)]
        assert connection.execute("SELECT conversation_id, response_model FROM answer_tags").fetchall() == [
            ("c1", "m1")
        ]


def test_a_version_1_warehouse_with_duplicate_rows_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "old.duckdb"
    twice = "INSERT INTO curation_runs (night, recipe, skipped_rules) VALUES ('2026-11-20', 'r', '{}')"
    version_1_warehouse(path, twice, twice)
    with pytest.raises(WarehouseError, match=r"duplicate rows in table curation_runs.*\(night\).*2026, 11, 20.*x2"):
        Warehouse(path).ensure_schema()
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("SELECT max(schema_version) FROM magpie_warehouse").fetchone() == (1,)
        assert "fingerprint" not in {row[0] for row in connection.execute("DESCRIBE instructions").fetchall()}


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
    with warehouse.transaction() as connection:
        connection.execute("INSERT INTO magpie_warehouse (schema_version) VALUES (2)")
    holder.join()
    assert time.monotonic() - started >= 0.5
    assert count(warehouse, "SELECT count(*) FROM magpie_warehouse") == 2


def test_gives_up_with_a_clear_error_when_the_lock_stays(warehouse):
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(warehouse.path), 5, ready))
    holder.start()
    ready.wait(30)
    impatient = Warehouse(warehouse.path, lock_timeout_s=0.5)
    with pytest.raises(WarehouseError, match="stayed locked by another process"):
        impatient.ensure_schema()
    holder.terminate()
    holder.join()
