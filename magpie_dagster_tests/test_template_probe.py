"""The template probe: its verdict on known samples, and on the packaged model with the right and a wrong template."""

from __future__ import annotations

import datetime as dt
import textwrap

import dagster as dg
import pytest

from magpie_dagster.cli.main import main
from magpie_dagster.domain.generation.config import ProbeSettings
from magpie_dagster.domain.generation.instructions import InstructionRecord
from magpie_dagster.domain.generation.probe import probe_report
from magpie_dagster_tests.nights import embedded_model_catalogue

NIGHT = dt.date(2026, 11, 20)


def _record(raw: str, drop_reason: str | None = None) -> InstructionRecord:
    return InstructionRecord(
        conversation_id=raw[:8], model="m", partition_date=NIGHT, sample_index=0, system_prompt_name=None,
        raw_instruction=raw, instruction=raw.strip(), sanitiser_rules=(), drop_reason=drop_reason, temperature=1.0,
        top_p=1.0, max_tokens=64, seed=1, input_generator="m", pre_query_template="", prompt_tokens=1,
        completion_tokens=1, finish_reason="length" if drop_reason == "truncated" else "stop", fingerprint="f",
    )  # fmt: skip


QUERIES = ["How do tides work?", "Write a poem about rain.", "What is a prime number?", "Plan a trip to Oslo."]


def test_clean_samples_pass_and_each_sign_is_counted():
    records = [
        *[_record(query) for query in QUERIES],
        _record("assistant\nSure!", "template_echo"),
        _record("", "empty"),
        _record("Tell me about " * 20, "truncated"),
        _record("<think>The user might ask about tides</think> How do tides work?"),
    ]
    report = probe_report("m", "smollm2", records, ProbeSettings(), max_tokens=64)
    counts = {sign.name: sign.count for sign in report.signs}
    assert counts == {"template_echo": 1, "empty": 1, "truncated": 1, "reasoning": 1, "no_language": 0}
    assert report.samples == 8 and report.passed  # 1 of 8 (12.5 %) is under every limit
    assert sum(report.languages.values()) == 5 and "und" not in report.languages  # the usable ones, each in one
    assert report.render().splitlines()[0] == "template probe of 'm' (template smollm2), 8 samples: passed"


@pytest.mark.parametrize(
    ("bad", "sign", "fix"),
    [
        (_record("<|im_start|>assistant\nHi", "template_echo"), "template_echo", "`template: auto`"),
        (_record("", "empty"), "empty", "already close the user turn"),
        (_record("word " * 64, "truncated"), "truncated", "raise `instruction_sampling.max_tokens`"),
        (_record("<think>\nOkay, the user wants"), "reasoning", "qwen3-no-thinking"),
        (_record("}}]) ;; 42 == 42"), "no_language", "in no language"),
    ],
)
def test_a_sign_over_its_limit_fails_with_what_was_seen_and_the_fix(bad, sign, fix):
    records = [_record(QUERIES[0]), bad, bad, bad]  # 3 of 4 = 75 %, over every default limit
    report = probe_report("m", "qwen3", records, ProbeSettings(), max_tokens=64)
    assert [failed.name for failed in report.failed_signs] == [sign]
    lines = report.render().splitlines()
    assert lines[0] == f"template probe of 'm' (template qwen3), 4 samples: FAILED: {sign}"
    assert any(line.startswith(f"  {sign}: 3/4 (75%,") and line.endswith("<- over the limit") for line in lines)
    assert any(line.startswith(f"  fix ({sign}): ") and fix in line for line in lines)


def test_a_share_equal_to_its_limit_passes_and_limits_come_from_the_settings():
    records = [_record(QUERIES[0]), _record("", "empty")]
    assert probe_report("m", "t", records, ProbeSettings(max_empty=0.5), max_tokens=8).passed
    assert not probe_report("m", "t", records, ProbeSettings(max_empty=0.49), max_tokens=8).passed


# The packaged model with its own template and max_tokens 128 truncates ~12 % of its instructions (2 of 16 here);
# with another family's template it never writes that family's end-of-turn token: 75-81 % truncated (llama-3,
# phi-3, gemma-2 measured). 24 samples keep a wrong template over the 50 % limit on any CPU's samples.
PROBED = textwrap.dedent(
    embedded_model_catalogue(
        template="smollm2", instructions=24, batch_size=12, instruction_max_tokens=128, response_max_tokens=64,
        probe=True,
    )
) + textwrap.indent(
    textwrap.dedent(
        """\
        - key: wrong_template
          engine: llama_cpp
          model: packaged:smollm2-135m-instruct
          template: llama-3
          instructions_per_batch: 24
          n_ctx: 1024
          n_threads: 2
          instruction_sampling: {temperature: 1.0, top_p: 1.0, max_tokens: 128}
          probe: {samples: 24}
        """
    ),
    "  ",
)  # fmt: skip


@pytest.fixture
def probed_catalogue(tmp_path, monkeypatch):
    path = tmp_path / "catalogue.yaml"
    path.write_text(PROBED)
    monkeypatch.setenv("MAGPIE_CATALOGUE", str(path))
    monkeypatch.setenv("MAGPIE_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    return path


def test_the_probe_command_names_an_unknown_model(probed_catalogue, capsys):
    assert main(["probe", "--model", "nope"]) == 2
    assert "No model 'nope' in the catalogue; known: smollm2_135m, wrong_template" in capsys.readouterr().err


@pytest.mark.slow
def test_the_probe_command_passes_the_right_template_and_fails_a_wrong_one(probed_catalogue, capsys):
    assert main(["probe", "--model", "smollm2_135m", "--samples", "16", "--date", NIGHT.isoformat()]) == 0
    right = capsys.readouterr().out
    assert "template probe of 'smollm2_135m' (template smollm2), 16 samples: passed" in right
    assert main(["probe", "--model", "wrong_template", "--date", NIGHT.isoformat()]) == 1
    wrong = capsys.readouterr().out
    assert "template probe of 'wrong_template' (template llama-3), 24 samples: FAILED:" in wrong
    assert "  fix (" in wrong


@pytest.mark.slow
def test_a_new_partition_stores_its_probed_samples_and_a_wrong_template_stores_nothing(probed_catalogue):
    from magpie_dagster.cli.runner import failure_cause
    from magpie_dagster.defs.assets.generation import build_generation_assets
    from magpie_dagster.defs.partitions import build_model_date_partitions, model_date_key
    from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
    from magpie_dagster.domain.catalogue import load_catalogue
    from magpie_dagster.storage.warehouse import Warehouse

    catalogue = load_catalogue(probed_catalogue)
    warehouse = probed_catalogue.parent / "warehouse.duckdb"

    def materialise(model: str) -> dg.ExecuteInProcessResult:
        [instructions, _] = build_generation_assets(build_model_date_partitions(catalogue), catalogue.retries)
        return dg.materialize(
            [instructions],
            partition_key=model_date_key(model, NIGHT),
            resources={
                "catalogue": CatalogueResource(path=str(probed_catalogue)),
                "warehouse": WarehouseResource(path=str(warehouse)),
                "engines": EngineResource(),
            },
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )

    def stored(model: str) -> int:
        with Warehouse(str(warehouse)).connect(read_only=True) as connection:
            return connection.execute("SELECT count(*) FROM instructions WHERE model = ?", [model]).fetchone()[0]

    right = materialise("smollm2_135m")
    assert right.success
    [event] = right.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert "samples: passed" in metadata["template_probe"].value.splitlines()[0]
    assert metadata["generated"].value == 24 and stored("smollm2_135m") == 24  # the 16 probed ones generated once

    wrong = materialise("wrong_template")
    assert not wrong.success
    [failure] = [event for event in wrong.all_events if event.event_type_value == "STEP_FAILURE"]
    assert "template probe of 'wrong_template' (template llama-3), 24 samples: FAILED:" in failure_cause(
        failure.step_failure_data
    )
    assert stored("wrong_template") == 0
