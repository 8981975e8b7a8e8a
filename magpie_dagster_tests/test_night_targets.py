"""Row targets and the category mix: a night works in rounds until its curated subset holds the target, and a
recipe's category shares are filled best-first, with later rounds steered toward the categories still short.

Through Dagster with the fake engine on both warehouse backends; the judge is a deterministic stand-in whose
task category follows the instruction (test_night_targets_real_model.py runs the embedded model)."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import dagster as dg
import pytest

from magpie_dagster.cli.night_driver import drive_night
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.round_sensor import ROUND_TAG
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.curation.rules import ShareBounds
from magpie_dagster.domain.curation.selection import share_fill
from magpie_dagster.domain.generation.config import SystemPrompt
from magpie_dagster.domain.generation.sampling_plan import plan_samples
from magpie_dagster.domain.rounds.targets import (
    BUDGET_SPENT,
    MAX_ROUNDS,
    TARGET_MET,
    NightSoFar,
    Target,
    decide,
    first_round_samples,
    steered_weights,
)
from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import FakeEngineResource

NIGHT = dt.date(2026, 11, 24)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 8, batch_size: 4,
     probe: {enabled: false}, target: {curated_rows: 20, max_rounds: 4}}
curation:
  recipe: {name: test-recipe, rules: [{rule: first_of_group}]}
retries: {max_retries: 0}
judging: {judge: {engine: llama_cpp, model: packaged:smollm2-135m-instruct}}  # an LLM judge: its calls are counted
"""


# --- the round arithmetic -------------------------------------------------------------------------------------


def test_a_round_plans_what_the_yield_predicts_with_a_margin():
    target = Target(curated_rows=100)
    decision = decide(target, NightSoFar(round=1, planned_samples=40, curated=20, tokens=1000, cost_usd=0.0))
    # 80 rows missing at a yield of 0.5: 160 samples, x1.25 -> 200 more
    assert (decision.stop_reason, decision.next_samples) == (None, 240)
    # no row yet: no yield to go by, the round doubles what was planned
    assert decide(target, NightSoFar(1, 40, 0, 1000, 0.0)).next_samples == 80
    # a tiny yield cannot ask for more than 8x what was planned
    assert decide(target, NightSoFar(1, 40, 1, 1000, 0.0)).next_samples == 40 + 320
    # a night stored empty before it had a target: the target x1.25 to start from
    assert decide(target, NightSoFar(1, 0, 0, 0, 0.0)).next_samples == 125


def test_a_night_stops_at_its_target_its_budget_or_its_last_round():
    assert decide(Target(curated_rows=10), NightSoFar(2, 40, 10, 5, 0.0)).stop_reason == TARGET_MET
    assert decide(Target(curated_rows=10, max_tokens=500), NightSoFar(1, 40, 2, 500, 0.0)).stop_reason == BUDGET_SPENT
    assert decide(Target(curated_rows=10, max_usd=1.0), NightSoFar(1, 40, 2, 5, 1.5)).stop_reason == BUDGET_SPENT
    assert decide(Target(curated_rows=10, max_rounds=2), NightSoFar(2, 40, 2, 5, 0.0)).stop_reason == MAX_ROUNDS


def test_a_round_is_cut_to_what_the_budget_left_pays_for():
    # 10 tokens a sample so far; 250 tokens left pay for 25 more samples, though the yield asks for 200
    decision = decide(Target(curated_rows=100, max_tokens=650), NightSoFar(1, 40, 20, 400, 0.0))
    assert decision.next_samples == 40 + 25
    # less than one sample's worth left: the night stops now rather than plan an empty round
    assert decide(Target(curated_rows=100, max_tokens=405), NightSoFar(1, 40, 20, 400, 0.0)).stop_reason == (
        BUDGET_SPENT
    )


def test_round_one_follows_the_yield_of_earlier_nights():
    target = Target(curated_rows=30)
    assert first_round_samples(target, default=20, measured_yield=None) == 20
    assert first_round_samples(target, default=20, measured_yield=0.5) == 75  # 30 / 0.5 x 1.25
    assert first_round_samples(target, default=20, measured_yield=0.001) == 160  # at most 8x the default


def test_later_rounds_draw_short_categories_more_often_and_full_ones_less():
    prompts = [
        SystemPrompt(name="sums", text="s", category="Math"),
        SystemPrompt(name="code", text="c", category="Coding & Debugging", weight=2.0),
        SystemPrompt(name="plain", text="p"),
    ]
    shares = {"Math": ShareBounds(min=0.3), "Coding & Debugging": ShareBounds(max=0.25)}
    weights = steered_weights(prompts, {"Math": 0.1, "Coding & Debugging": 0.4}, shares)
    assert weights == {"sums": pytest.approx(3.0), "code": 1.0, "plain": 1.0}
    assert steered_weights(prompts, {}, shares)["sums"] == 4.0  # none at all: the most it steers


def test_steering_a_later_round_keeps_the_samples_planned_before_it():
    prompts = [SystemPrompt(name="a", text="a"), SystemPrompt(name="b", text="b")]
    first = plan_samples("alpha", NIGHT, 10, prompts)
    later = plan_samples("alpha", NIGHT, 30, prompts, steering=[(10, {"a": 1000.0, "b": 0.001})])
    assert later[:10] == first
    assert {sample.system_prompt.name for sample in later[10:]} == {"a"}


# --- the category mix -----------------------------------------------------------------------------------------


def test_shares_take_each_minimum_first_then_the_best_rows_under_the_caps():
    rows = ["Info"] * 6 + ["Math"] * 2 + ["Code"] * 4  # best first
    shares = {"Math": ShareBounds(min=0.2), "Code": ShareBounds(max=0.25)}
    chosen = share_fill(rows, shares, cap=None)
    picked = [rows[position] for position in chosen]
    # Math's 2 rows allow at most 10 rows; Code at most 2 of them; the best Info rows fill the rest
    assert (len(picked), picked.count("Math"), picked.count("Code"), picked.count("Info")) == (10, 2, 2, 6)
    assert chosen[:6] == [0, 1, 2, 3, 4, 5] and chosen[-2:] == [8, 9]  # the best Code rows
    capped = [rows[position] for position in share_fill(rows, shares, cap=5)]
    assert len(capped) == 5 and capped.count("Math") == 1 and capped.count("Code") <= 1
    assert share_fill(["Info"] * 5, {"Math": ShareBounds(min=0.1)}, cap=None) == []  # no Math: no mix


def test_a_recipe_with_impossible_shares_is_refused():
    from magpie_dagster.domain.curation.recipe import Recipe

    with pytest.raises(ValueError, match="add up to 1.2"):
        Recipe.model_validate(
            {
                "name": "r",
                "rules": [
                    {
                        "rule": "category_shares",
                        "shares": {"Math": {"min": 0.6}, "Reasoning": {"min": 0.6}},
                    }
                ],
            }
        )
    with pytest.raises(ValueError, match="unknown task categories"):
        Recipe.model_validate({"name": "r", "rules": [{"rule": "category_shares", "shares": {"Maths": {"max": 1}}}]})


# --- nights through Dagster -----------------------------------------------------------------------------------


def _drive(project, engines: FakeEngineResource) -> int:
    catalogue = load_catalogue(project.catalogue)
    return drive_night(
        catalogue,
        project.backend.warehouse(),
        project.night,
        catalogue.model_keys,
        run_models=lambda keys, _: all(project.materialise(key, engines).success for key in keys),
        curate=lambda: project.curate(engines).success,
        announce=lambda line: None,
    )


def test_a_target_is_met_in_rounds_with_exactly_its_rows_and_a_met_night_does_nothing_again(project, tmp_path):
    log = tmp_path / "requests.log"
    engines = FakeEngineResource(request_log=str(log))
    assert _drive(project, engines) == 2
    rounds = project.query(
        "SELECT round, planned_samples, curated, kept, target_rows, stop_reason FROM night_rounds ORDER BY round"
    )
    # round 1: 8 samples, all kept (yield 1); round 2 plans 8 + 12 x 1.25 = 23 in all, keeps the best 20
    assert rounds == [(1, 8, 8, 8, 20, None), (2, 23, 23, 20, 20, TARGET_MET)]
    assert project.query("SELECT count(*), max(sample_index) FROM instructions") == [(23, 22)]
    decisions = dict(project.query("SELECT coalesce(drop_reason, 'kept'), count(*) FROM curated_rows GROUP BY 1"))
    assert decisions == {"kept": 20, "beyond_target": 3}
    # seeds continue: round 2's samples are new indices, round 1's rows were not generated again
    requests = log.read_text().splitlines()
    completions = [line for line in requests if line.startswith("alpha ") and " chat " not in line]
    assert len(completions) == 23 + 23  # instructions + responses
    assert [line for line in requests if " chat " in line], "the judge's calls are logged too"
    assert _drive(project, engines) == 1
    assert log.read_text().splitlines() == requests  # no engine call
    assert project.query("SELECT count(*), max(round) FROM night_rounds") == [(2, 2)]
    assert project.query("SELECT count(*) FROM curated_rows WHERE drop_reason IS NULL") == [(20,)]


@FILE_ONLY
def test_plan_sizes_a_targeted_night_by_the_yield_measured_so_far(project, monkeypatch, capsys):
    from magpie_dagster.cli.main import main

    assert _drive(project, FakeEngineResource()) == 2
    for name, value in {**project.backend.environment(), "MAGPIE_CATALOGUE": str(project.catalogue)}.items():
        monkeypatch.setenv(name, value)
    assert main(["plan", "--start", NIGHT.isoformat(), "--end", (NIGHT + dt.timedelta(days=2)).isoformat()]) == 0
    [alpha] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| alpha |")]
    cells = [cell.strip() for cell in alpha.strip("|").split("|")]
    # 23 curated of 23 planned: a yield of 1, so 20 rows take 20 x 1.25 = 25 samples a night, two nights to run
    assert cells[1:4] == ["2", "1", "50"]


@FILE_ONLY
def test_a_budget_too_small_for_the_target_stops_the_night(project, tmp_path):
    catalogue = project.catalogue.read_text().replace(
        "target: {curated_rows: 20, max_rounds: 4}", "target: {curated_rows: 20, max_rounds: 4, max_tokens: 50}"
    )
    project.catalogue.write_text(catalogue)
    assert _drive(project, FakeEngineResource()) == 1
    [(rounds, kept, stop_reason, tokens)] = project.query(
        "SELECT round, kept, stop_reason, tokens FROM night_rounds ORDER BY round DESC LIMIT 1"
    )
    assert (rounds, kept, stop_reason) == (1, 8, BUDGET_SPENT) and tokens >= 50
    # the spend it stopped on is the ledger's, over every stage
    assert project.query("SELECT sum(prompt_tokens + completion_tokens) FROM engine_calls") == [(tokens,)]


MIX_CATALOGUE = """
start_date: "2026-11-01"
models:
  - key: alpha
    engine: llama_cpp
    model: a.gguf
    template: smollm2
    instructions_per_batch: 12
    batch_size: 6
    probe: {enabled: false}
    target: {curated_rows: 16, max_rounds: 5}
    system_prompts:
      - {name: sums, text: "You ask about sums.", category: Math}
      - {name: code, text: "You ask about code.", category: "Coding & Debugging"}
      - {name: plain, text: "You ask about anything.", weight: 6}
curation:
  recipe:
    name: mix
    rules:
      - {rule: first_of_group}
      - rule: category_shares
        shares: {Math: {min: 0.3, max: 0.5}, "Coding & Debugging": {max: 0.25}}
retries: {max_retries: 0}
judging: {judge: {engine: llama_cpp, model: packaged:smollm2-135m-instruct}}  # an LLM judge: its calls are counted
"""


@FILE_ONLY
def test_a_night_fills_its_category_mix_and_steers_later_rounds_toward_the_short_category(project):
    project.catalogue.write_text(textwrap.dedent(MIX_CATALOGUE))
    engines = FakeEngineResource(script="steerable", judge_script="category_by_keyword")
    passes = _drive(project, engines)
    rounds = project.query("SELECT round, planned_samples, kept, prompt_weights, stop_reason FROM night_rounds")
    assert passes == len(rounds) > 1 and rounds[-1][2] == 16 and rounds[-1][4] == TARGET_MET
    shares = dict(
        project.query(
            "SELECT t.task_category, count(*) / 16 FROM curated_rows c JOIN instruction_tags t USING (conversation_id) "
            "WHERE c.drop_reason IS NULL GROUP BY 1"
        )
    )
    assert 0.3 <= shares["Math"] <= 0.5 and shares.get("Coding & Debugging", 0) <= 0.25
    # round 1 found too few sums: round 2 draws the Math prompt more often, the others as before
    weights = json.loads(rounds[1][3])
    assert weights["sums"] > 1.0 and weights["plain"] == 6.0
    first = rounds[0][1]
    before, after = project.query(
        "SELECT count(*) FILTER (WHERE sample_index < ? AND system_prompt_name = 'sums') / ?, "
        "count(*) FILTER (WHERE sample_index >= ? AND system_prompt_name = 'sums') / (count(*) - ?) FROM instructions",
        [first, first, first, first],
    )[0]
    assert after > before
    # what the subset reached is recorded per round
    assert json.loads(project.query("SELECT category_shares FROM night_rounds ORDER BY round DESC LIMIT 1")[0][0])[
        "Math"
    ] == pytest.approx(shares["Math"], abs=1e-3)


@FILE_ONLY
def test_the_sensor_runs_a_scheduled_nights_next_round_then_its_curation(project):
    engines = FakeEngineResource()
    instance = dg.DagsterInstance.ephemeral()
    definitions = project.definitions(engines)
    sensor = definitions.resolve_sensor_def("night_rounds_sensor")

    def tick(cursor):
        return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions))

    def run_as_the_daemon(request):
        job = definitions.resolve_job_def(request.job_name)
        tags = {**request.tags, "dagster/run_key": request.run_key}
        assert job.execute_in_process(partition_key=request.partition_key, instance=instance, tags=tags).success

    assert project.materialise("alpha", engines, instance=instance).success
    assert project.curate(engines, instance=instance).success  # round 1 closed short: round 2 planned
    first = tick(None)
    [request] = first.run_requests
    assert (request.job_name, request.partition_key, request.tags[ROUND_TAG]) == (
        "magpie_job", model_date_key("alpha", NIGHT), "2"
    )  # fmt: skip
    waiting = tick(first.cursor)
    assert waiting.run_requests == []  # its run has not happened yet: no curation
    run_as_the_daemon(request)
    after = tick(waiting.cursor)
    [curation] = after.run_requests
    assert (curation.job_name, curation.partition_key) == ("nightly_curation_job", NIGHT.isoformat())
    run_as_the_daemon(curation)
    assert tick(after.cursor).run_requests == []  # the target is met: nothing more
    assert project.query("SELECT max(round), count(*) FILTER (WHERE stop_reason = 'target met') FROM night_rounds") == [
        (2, 1)
    ]
    assert project.query("SELECT count(*) FROM curated_rows WHERE drop_reason IS NULL") == [(20,)]


def test_a_target_on_an_entry_that_samples_nothing_is_refused(tmp_path):
    from magpie_dagster.domain.catalogue import CatalogueError

    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(CATALOGUE).replace("instructions_per_batch: 8", "instructions_per_batch: 0"))
    with pytest.raises(CatalogueError, match=r"models\[0\] \(key 'alpha'\).*a target needs instructions_per_batch"):
        load_catalogue(catalogue)
