"""The generation assets materialised by Dagster, per partition, on both backends (fake engine)."""

from __future__ import annotations

import datetime as dt
import textwrap

import dagster as dg
import pytest

from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.runner import failure_cause
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource

NIGHT = dt.date(2026, 11, 20)

CATALOGUE = """
start_date: "2026-11-01"
models:
  - key: alpha
    engine: llama_cpp
    model: packaged:smollm2-135m-instruct
    template: smollm2
    instructions_per_batch: 12
    batch_size: 5
    turns: 2
    system_prompts:
      - {name: math, weight: 1, text: "You are a math tutor."}
      - {name: default, weight: 1}
  - key: beta
    engine: llama_cpp
    model: packaged:smollm2-135m-instruct
    template: qwen2.5
    instructions_per_batch: 4
retries: {max_retries: 1, delay_s: 0.1}
"""


@pytest.fixture
def project(tmp_path, backend):
    catalogue_path = tmp_path / "catalogue.yaml"
    catalogue_path.write_text(textwrap.dedent(CATALOGUE))
    return catalogue_path, backend


def materialise(project, model: str, engines: FakeEngineResource | None = None, raise_on_error: bool = True):
    catalogue_path, backend = project
    defs = backend.definitions(catalogue_path, engines or FakeEngineResource(), FakeEmbedderResource())
    job = defs.resolve_job_def("magpie_job")
    return job.execute_in_process(
        partition_key=model_date_key(model, NIGHT),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def query(project, sql: str, parameters=()):
    with project[1].warehouse().connect(read_only=True) as connection:
        return connection.execute(sql, list(parameters)).fetchall()


def test_both_assets_fill_their_tables(project):
    result = materialise(project, "alpha")
    assert result.success
    rows = query(
        project,
        "SELECT count(*), count(DISTINCT conversation_id), count(DISTINCT gen_input_configs.seed) "
        "FROM instructions WHERE model = 'alpha' AND partition_date = ?",
        [NIGHT],
    )
    assert rows == [(12, 12, 12)]
    [(responses, two_turn)] = query(
        project,
        "SELECT count(*), count(*) FILTER (WHERE turns = 2 AND len(conversations) = 4) FROM responses",
    )
    assert responses == 12 and two_turn == 12
    [(first_from, second_from, engine)] = query(
        project,
        "SELECT conversations[1]['from'], conversations[2]['from'], gen_response_configs.engine "
        "FROM responses LIMIT 1",
    )
    assert (first_from, second_from, engine) == ("human", "gpt", "fake")
    system_prompts = {
        row[0] for row in query(project, "SELECT DISTINCT system_prompt_name FROM instructions")
    }
    assert system_prompts == {"math", "default"}


def test_materialisation_metadata(project):
    result = materialise(project, "alpha")
    [instructions_event] = [
        event
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("raw_instructions")
    ]
    metadata = instructions_event.materialization.metadata
    assert metadata["rows"].value == 12
    assert metadata["kept"].value == 12
    assert metadata["completion_tokens"].value > 0
    assert metadata["tokens_per_s"].value > 0
    assert metadata["preview"].value.count("\n") == 6  # header, divider, 5 rows
    assert metadata["drop_reasons"].value == {}


def test_rerun_replaces_only_its_partition(project):
    materialise(project, "alpha")
    materialise(project, "beta")
    before = query(project, "SELECT model, count(*) FROM instructions GROUP BY ALL ORDER BY model")
    materialise(project, "alpha")
    assert query(project, "SELECT model, count(*) FROM instructions GROUP BY ALL ORDER BY model") == before
    assert before == [("alpha", 12), ("beta", 4)]
    assert query(project, "SELECT count(*) FROM responses WHERE model = 'alpha'") == [(12,)]


def test_unusable_instructions_are_kept_with_a_reason_and_not_answered(project):
    result = materialise(project, "alpha", FakeEngineResource(script="echo_every_third"))
    assert result.success
    reasons = dict(
        query(project, "SELECT coalesce(drop_reason, 'kept'), count(*) FROM instructions GROUP BY 1")
    )
    assert reasons.get("template_echo", 0) > 0
    assert sum(reasons.values()) == 12
    [(answered,)] = query(project, "SELECT count(*) FROM responses")
    assert answered == reasons["kept"]
    [metadata] = [
        event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("raw_instructions")
    ]
    assert metadata["drop_reasons"].value == {"template_echo": reasons["template_echo"]}


def test_unreachable_engine_fails_naming_the_partition_and_keeps_old_rows(project):
    materialise(project, "alpha")
    result = materialise(project, "alpha", FakeEngineResource(unreachable=True), raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    message = failure_cause(failure.step_failure_data)
    assert message.startswith("Partition alpha|2026-11-20 (raw_instructions): Cannot reach")
    assert query(project, "SELECT count(*) FROM instructions WHERE model = 'alpha'") == [(12,)]
