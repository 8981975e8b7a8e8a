"""The generation assets materialised by Dagster, per partition, on both backends (fake engine)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from magpie_dagster.cli.runner import failure_cause
from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import FakeEngineResource

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


def test_both_assets_fill_their_tables(project):
    result = project.materialise("alpha")
    assert result.success
    rows = project.query(
        "SELECT count(*), count(DISTINCT conversation_id), count(DISTINCT gen_input_configs.seed) "
        "FROM instructions WHERE model = 'alpha' AND partition_date = ?",
        [NIGHT],
    )
    assert rows == [(12, 12, 12)]
    [(responses, two_turn)] = project.query(
        "SELECT count(*), count(*) FILTER (WHERE turns = 2 AND len(conversations) = 4) FROM responses",
    )
    assert responses == 12 and two_turn == 12
    [(first_from, second_from, engine)] = project.query(
        "SELECT conversations[1]['from'], conversations[2]['from'], gen_response_configs.engine "
        "FROM responses LIMIT 1",
    )
    assert (first_from, second_from, engine) == ("human", "gpt", "fake")
    system_prompts = {
        row[0] for row in project.query("SELECT DISTINCT system_prompt_name FROM instructions")
    }
    assert system_prompts == {"math", "default"}


@FILE_ONLY
def test_materialisation_metadata(project):
    result = project.materialise("alpha")
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
    project.materialise("alpha")
    project.materialise("beta")
    before = project.query("SELECT model, count(*) FROM instructions GROUP BY ALL ORDER BY model")
    project.materialise("alpha")
    assert project.query("SELECT model, count(*) FROM instructions GROUP BY ALL ORDER BY model") == before
    assert before == [("alpha", 12), ("beta", 4)]
    assert project.query("SELECT count(*) FROM responses WHERE model = 'alpha'") == [(12,)]


@FILE_ONLY
def test_a_template_that_echoes_fails_its_probe_before_anything_is_stored(project):
    result = project.materialise("alpha", FakeEngineResource(script="echo_every_third"), raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "raw_instructions"
    message = failure_cause(failure.step_failure_data)
    # 12 samples (the probe's 16 capped at the plan), every third echoes: 4 of 12, over the 25 % limit
    assert "template probe of 'alpha' (template smollm2), 12 samples: FAILED: template_echo" in message
    assert "template_echo: 4/12 (33%, limit 25%)  <- over the limit" in message
    assert "fix (template_echo): the model wrote role headers" in message
    assert project.query("SELECT count(*) FROM instructions") == [(0,)]
    # not retried: the catalogue allows one retry, a wrong template gets none
    assert sum(event.event_type_value == "STEP_UP_FOR_RETRY" for event in result.all_events) == 0


@FILE_ONLY
def test_unusable_instructions_are_kept_with_a_reason_and_not_answered(project):
    project.catalogue.write_text(
        project.catalogue.read_text().replace("    turns: 2\n", "    turns: 2\n    probe: {enabled: false}\n")
    )
    result = project.materialise("alpha", FakeEngineResource(script="echo_every_third"))
    assert result.success
    reasons = dict(
        project.query("SELECT coalesce(drop_reason, 'kept'), count(*) FROM instructions GROUP BY 1")
    )
    assert reasons.get("template_echo", 0) > 0
    assert sum(reasons.values()) == 12
    [(answered,)] = project.query("SELECT count(*) FROM responses")
    assert answered == reasons["kept"]
    [metadata] = [
        event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("raw_instructions")
    ]
    assert metadata["drop_reasons"].value == {"template_echo": reasons["template_echo"]}


@FILE_ONLY
def test_unreachable_engine_fails_naming_the_partition_and_keeps_old_rows(project):
    project.materialise("alpha")
    result = project.materialise("alpha", FakeEngineResource(unreachable=True), raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    message = failure_cause(failure.step_failure_data)
    assert message.startswith("Partition alpha|2026-11-20 (raw_instructions): Cannot reach")
    assert project.query("SELECT count(*) FROM instructions WHERE model = 'alpha'") == [(12,)]


@FILE_ONLY
def test_a_fault_inside_the_probe_stores_nothing_and_the_next_run_probes_again(project):
    failed = project.materialise("alpha", FakeEngineResource(fail_after_requests=2), raise_on_error=False)
    assert not failed.success
    [failure] = [event for event in failed.all_events if event.event_type_value == "STEP_FAILURE"]
    assert "went away after 2 requests" in failure_cause(failure.step_failure_data)
    assert project.query("SELECT count(*) FROM instructions") == [(0,)]  # the probe's samples wait for its verdict
    result = project.materialise("alpha")
    [metadata] = [
        event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("raw_instructions")
    ]
    probe = metadata["template_probe"].value
    assert probe.startswith("template probe of 'alpha' (template smollm2), 12 samples: passed")
    assert metadata["generated"].value == 12
    assert project.query("SELECT count(*) FROM instructions WHERE model = 'alpha'") == [(12,)]
