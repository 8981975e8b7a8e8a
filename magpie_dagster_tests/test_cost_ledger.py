"""The cost ledger: every engine call of a partition, failed and resumed attempts kept, priced, summed in `costs`."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from magpie_dagster.domain.completion import CompletionRequest, EngineError, SamplingParams
from magpie_dagster.domain.costs.metering import MeteredEngine
from magpie_dagster.domain.engine_config import Price
from magpie_dagster.engines.fake import FakeEngine
from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import FakeEngineResource

NIGHT = dt.date(2026, 11, 20)
# alpha is priced like a hosted API, the judge like a rented GPU; beta costs nothing (the embedded default).
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 12, batch_size: 4,
     probe: {enabled: false}, price: {input_per_million: 2.0, output_per_million: 10.0}}
  - {key: beta, engine: llama_cpp, model: b.gguf, template: qwen2.5, instructions_per_batch: 6}
judging:
  judge: {engine: llama_cpp, model: judge.gguf, price: {gpu_hour: 3.6, gpus: 2}}
curation:
  recipe:
    name: test-recipe
    rules:
      - {rule: first_of_group}
retries: {max_retries: 0}
"""


def test_a_price_charges_tokens_and_gpu_time():
    price = Price(input_per_million=2.0, output_per_million=10.0, gpu_hour=3.6, gpus=2)
    assert price.cost(prompt_tokens=500_000, completion_tokens=100_000, seconds=1800) == pytest.approx(
        1.0 + 1.0 + 3.6
    )
    assert Price().cost(10**9, 10**9, 10**6) == 0.0


def test_a_metered_engine_reports_each_call_and_a_failed_one_before_the_error_goes_on():
    calls = []
    sampling = SamplingParams(max_tokens=50)
    engine = MeteredEngine(FakeEngine("m"), "alpha", Price(output_per_million=1e6), calls.append)
    completions = engine.complete([CompletionRequest("<|im_start|>user\n", sampling, seed) for seed in (1, 2)])
    [call] = calls
    assert (call.engine_label, call.engine, call.engine_model, call.kind, call.requests) == (
        "alpha", "fake", "m", "complete", 2
    )  # fmt: skip
    assert call.completion_tokens == sum(c.completion_tokens for c in completions) > 0
    assert call.prompt_tokens == sum(c.prompt_tokens for c in completions)
    assert call.cost_usd == pytest.approx(call.completion_tokens)  # a dollar a token
    assert call.error is None and call.seconds >= 0

    class Dead(FakeEngine):
        def complete(self, requests):
            raise EngineError("server went away")

    dead = MeteredEngine(Dead("m"), "alpha", Price(), calls.append)
    with pytest.raises(EngineError, match="server went away"):
        dead.complete([CompletionRequest("x", sampling, 1)])
    assert calls[-1].error == "EngineError: server went away" and calls[-1].completion_tokens == 0


def _ledger(project, where: str = "TRUE") -> list[tuple]:
    return project.query(
        "SELECT stage, engine_label, count(*), count(*) FILTER (WHERE error IS NOT NULL), "
        f"count(DISTINCT run_id) FROM engine_calls WHERE {where} GROUP BY ALL ORDER BY ALL"
    )


def test_a_killed_and_resumed_partition_keeps_both_attempts_in_the_ledger(project):
    killed = project.materialise("alpha", FakeEngineResource(fail_after_requests=8), raise_on_error=False)
    assert not killed.success
    # two batches of 4 stored, the third call failed: all three in the ledger
    assert _ledger(project) == [("raw_instructions", "alpha", 3, 1, 1)]
    [(error,)] = project.query("SELECT error FROM engine_calls WHERE error IS NOT NULL")
    assert error.startswith("EngineError: The server for 'alpha' went away after 8 requests")

    resumed = project.materialise("alpha")
    assert resumed.success
    ledger = dict(((stage, label), rest) for stage, label, *rest in _ledger(project))
    assert ledger[("raw_instructions", "alpha")] == [4, 1, 2]  # the resume made one call: the 4 missing samples
    assert ledger[("responses", "alpha")] == [3, 0, 1]  # 12 answers in calls of 4
    assert ledger[("instruction_tags", "judge")][1:] == [0, 1]
    # what the surviving rows used is a part of what the ledger paid for
    [(stored_tokens,)] = project.query("SELECT sum(completion_tokens) FROM instructions")
    [(paid_tokens,)] = project.query(
        "SELECT sum(completion_tokens) FROM engine_calls WHERE stage = 'raw_instructions' AND error IS NULL"
    )
    assert paid_tokens == stored_tokens  # the killed run's two batches were kept, not regenerated
    [metadata] = [
        event.materialization.metadata
        for event in resumed.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("raw_instructions")
    ]
    assert (metadata["engine_calls"].value, metadata["engine_calls_failed"].value, metadata["attempts"].value) == (
        4, 1, 2
    )  # fmt: skip
    [(alpha_cost,)] = project.query(
        "SELECT sum(prompt_tokens) / 1e6 * 2.0 + sum(completion_tokens) / 1e6 * 10.0 FROM engine_calls "
        "WHERE engine_label = 'alpha' AND stage = 'raw_instructions'"
    )
    assert metadata["cost_usd"].value == pytest.approx(alpha_cost, rel=1e-4) and alpha_cost > 0


def test_the_costs_view_answers_cost_per_curated_row_by_model_in_one_query(project):
    instance = dg.DagsterInstance.ephemeral()
    for model in ("alpha", "beta"):
        assert project.materialise(model, instance=instance).success
    assert project.curate(instance=instance).success
    rows = project.query(
        "SELECT model, sum(cost_usd) / sum(curated_rows) FROM costs "
        "WHERE partition_date >= DATE '2026-11-20' - INTERVAL 7 DAY GROUP BY model ORDER BY model"
    )
    expected = project.query(
        """
        SELECT e.model, e.cost / c.kept FROM
            (SELECT model, sum(cost_usd) AS cost FROM engine_calls GROUP BY model) e
            JOIN (SELECT model, count(*) FILTER (WHERE drop_reason IS NULL) AS kept FROM curated_rows
                  GROUP BY model) c USING (model)
        ORDER BY model
        """
    )
    assert [model for model, _ in rows] == ["alpha", "beta"]
    assert rows == [(model, pytest.approx(cost)) for model, cost in expected]
    [(alpha_judge_cost, alpha_judge_seconds)] = project.query(
        "SELECT sum(cost_usd), sum(seconds) FROM engine_calls WHERE model = 'alpha' AND engine_label = 'judge'"
    )
    assert alpha_judge_cost == pytest.approx(alpha_judge_seconds / 3600 * 3.6 * 2)
    beta = project.query("SELECT calls, curated_rows, cost_usd FROM costs WHERE model = 'beta'")
    assert beta[0][0] > 0 and beta[0][1] > 0
    assert beta[0][2] == pytest.approx(
        project.query("SELECT sum(cost_usd) FROM engine_calls WHERE model = 'beta' AND engine_label = 'judge'")[0][0]
    )  # beta's own engine is free; only the judge's GPU time costs


@FILE_ONLY
def test_plan_projects_a_backfill_from_the_measured_rate_and_names_models_never_run(project, monkeypatch, capsys):
    from magpie_dagster.cli.main import main

    assert project.materialise("alpha").success
    for name, value in {**project.backend.environment(), "MAGPIE_CATALOGUE": str(project.catalogue)}.items():
        monkeypatch.setenv(name, value)
    [(prompt, completion, cost)] = project.query(
        "SELECT sum(prompt_tokens), sum(completion_tokens), sum(cost_usd) FROM engine_calls WHERE model = 'alpha'"
    )
    # NIGHT is generated already; the two nights after it plan 12 samples each, the 12 measured ones' rate
    assert main(["plan", "--start", NIGHT.isoformat(), "--end", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "backfill 2026-11-20 .. 2026-11-22 (3 nights), projected from the cost ledger:"
    [alpha] = [line for line in out.splitlines() if line.startswith("| alpha |")]
    cells = [cell.strip() for cell in alpha.strip("|").split("|")]
    assert cells[1:6] == ["2", "1", "24", f"{round(prompt * 2):,}", f"{round(completion * 2):,}"]
    assert cells[7] == f"{cost * 2:.2f}" and cells[8] == "1 partitions, 12 samples"
    [beta] = [line for line in out.splitlines() if line.startswith("| beta |")]
    assert "no measured partition: run one night first (`magpie-dagster run --models beta`)" in beta
    assert main(["plan", "--start", NIGHT.isoformat(), "--end", NIGHT.isoformat(), "--models", "beta"]) == 1
    assert main(["plan", "--start", "2026-11-22", "--end", NIGHT.isoformat()]) == 2
    assert "--end 2026-11-20 is before --start 2026-11-22" in capsys.readouterr().err


def test_a_failed_call_keeps_no_credential_in_the_ledger():
    calls = []

    class Leaky(FakeEngine):
        def chat(self, requests):
            raise EngineError("401 from server: {'Authorization': 'Bearer sk-live-0123456789abcdef'}")

    with pytest.raises(EngineError):
        MeteredEngine(Leaky("m"), "judge", Price(), calls.append).chat([])
    assert "sk-live" not in calls[0].error and "[redacted]" in calls[0].error
