"""Row targets on the embedded model: the night works in rounds until its curated subset holds the target (or its
budget or rounds run out), and a night that met its target makes no engine call when it runs again.

A real model's samples differ from one CPU to the next, so this asserts what holds for any sample: a target
larger than round 1's samples takes more than one round, a met target keeps exactly its rows, each round plans
more samples than the last, and the stop reason is one the night can give.
"""

from __future__ import annotations

import textwrap

import dagster as dg
import pytest

from magpie_dagster.cli.night_driver import drive_night
from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.rounds.targets import BUDGET_SPENT, MAX_ROUNDS, TARGET_MET
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.nights import embedded_model_catalogue, real_model_night

pytestmark = pytest.mark.slow

NIGHT = real_model_night("2026-11-25")
ENTRY = embedded_model_catalogue(
    template="smollm2", instructions=4, batch_size=8, instruction_max_tokens=64, response_max_tokens=160
)
# No `judging` section: the default embedding classifier tags each round (an LLM judge's rounds of decoding took
# about a third of this module's two minutes; the judge's calls in a budget are test_night_targets.py's business).
REST = """
curation:
  recipe: {name: targets, rules: [{rule: first_of_group}]}
"""
TARGET_ROWS = 6  # more than round 1's 4 samples can give


def _night(tmp_path, target: str):
    catalogue_path = tmp_path / "catalogue.yaml"
    catalogue_path.write_text(textwrap.dedent(ENTRY.rstrip() + f"\n    target: {target}\n" + REST))
    warehouse = Warehouse(tmp_path / "magpie.duckdb")
    definitions = build_definitions(catalogue_path, tmp_path / "magpie.duckdb")
    instance = dg.DagsterInstance.ephemeral()
    catalogue = load_catalogue(catalogue_path)

    def run_models(keys, _passes):
        job = definitions.resolve_job_def("magpie_job")
        return all(
            job.execute_in_process(partition_key=model_date_key(key, NIGHT), instance=instance).success
            for key in keys
        )

    def curate():
        job = definitions.resolve_job_def("nightly_curation_job")
        return job.execute_in_process(partition_key=NIGHT.isoformat(), instance=instance).success

    def drive() -> int:
        return drive_night(catalogue, warehouse, NIGHT, catalogue.model_keys, run_models, curate, lambda line: None)

    def query(sql: str) -> list[tuple]:
        with warehouse.connect(read_only=True) as connection:
            return connection.execute(sql).fetchall()

    return drive, query


def test_a_target_takes_rounds_keeps_exactly_its_rows_and_a_met_night_does_nothing_again(tmp_path):
    drive, query = _night(tmp_path, f"{{curated_rows: {TARGET_ROWS}, max_rounds: 4}}")
    passes = drive()
    rounds = query("SELECT round, planned_samples, curated, kept, stop_reason FROM night_rounds ORDER BY round")
    assert passes == len(rounds) >= 2  # 4 samples cannot give 6 rows
    planned = [row[1] for row in rounds]
    assert planned[0] == 4 and planned == sorted(set(planned))  # every round plans more samples than the last
    assert all(row[4] is None for row in rounds[:-1])
    last = rounds[-1]
    assert last[4] in (TARGET_MET, MAX_ROUNDS)
    assert query("SELECT count(*), max(sample_index) + 1 FROM instructions") == [(last[1], last[1])]
    [(kept, beyond)] = query(
        "SELECT count(*) FILTER (WHERE drop_reason IS NULL), count(*) FILTER (WHERE drop_reason = 'beyond_target') "
        "FROM curated_rows"
    )
    assert kept == last[3] and kept + beyond == last[2]
    if last[4] == TARGET_MET:
        assert kept == TARGET_ROWS
    else:
        assert kept < TARGET_ROWS and len(rounds) == 4
    calls = query("SELECT count(*), sum(completion_tokens) FROM engine_calls")
    assert calls[0][0] > 0
    assert drive() == 1
    assert query("SELECT count(*), sum(completion_tokens) FROM engine_calls") == calls  # no engine call
    assert query("SELECT count(*) FROM night_rounds") == [(len(rounds),)]


def test_a_budget_too_small_stops_the_night_after_its_first_round(tmp_path):
    drive, query = _night(tmp_path, f"{{curated_rows: {TARGET_ROWS}, max_rounds: 4, max_tokens: 100}}")
    assert drive() == 1
    [(round_number, kept, tokens, stop_reason)] = query("SELECT round, kept, tokens, stop_reason FROM night_rounds")
    assert (round_number, stop_reason) == (1, BUDGET_SPENT) and kept < TARGET_ROWS and tokens >= 100
    assert query("SELECT sum(prompt_tokens + completion_tokens) FROM engine_calls") == [(tokens,)]
