"""Responders: an entry's instructions answered by other catalogue models, each answer a row with its
`response_model`, judged for reward on its own, curated as its own row, and paired against the others.

Through Dagster with the fake engine (every model's answers carry its name: `fake-<key>`) on both warehouse
backends; test_responders_real_model.py answers with a second embedded-model entry."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from magpie_dagster.domain.catalogue import CatalogueError, load_catalogue
from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import FakeEngineResource

NIGHT = dt.date(2026, 11, 27)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 6, batch_size: 3,
     probe: {enabled: false}, responders: [alpha, thinker]}
  - {key: thinker, engine: llama_cpp, model: t.gguf, template: qwen3, instructions_per_batch: 0,
     response_sampling: {temperature: 0.6, top_p: 0.95, max_tokens: 2048}, price: {output_per_million: 1000000}}
judging:
  judge: {engine: llama_cpp, model: judge.gguf}
  reward: {kind: judge_score}
curation:
  recipe: {name: test-recipe, rules: [{rule: first_of_group}]}
preference: {across_responders: true}
retries: {max_retries: 0}
"""
ENGINES = FakeEngineResource(thinking_models=["thinker"])


def test_responders_must_be_catalogue_models(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(CATALOGUE).replace("[alpha, thinker]", "[alpha, thinkr]"))
    with pytest.raises(CatalogueError, match=r"model 'alpha': responders \['thinkr'\] are not catalogue keys"):
        load_catalogue(catalogue)
    catalogue.write_text(textwrap.dedent(CATALOGUE).replace("[alpha, thinker]", "[thinker, thinker]"))
    with pytest.raises(CatalogueError, match="responders repeat a key"):
        load_catalogue(catalogue)


def _answers(project) -> list[tuple]:
    return project.query(
        "SELECT i.conversation_id, r.conversation_id, r.response_model, r.gen_response_configs.output_generator, "
        "r.reasoning, r.reasoning_closed, r.response, r.drop_reason "
        "FROM instructions i JOIN responses r ON r.instruction_id = i.conversation_id "
        "WHERE i.model = 'alpha' ORDER BY i.sample_index, r.response_model"
    )


@FILE_ONLY
def test_each_responder_answers_every_instruction_as_its_own_row(project, tmp_path):
    assert project.materialise("alpha", ENGINES).success
    usable = project.query("SELECT count(*) FROM instructions WHERE model = 'alpha' AND drop_reason IS NULL")[0][0]
    answers = _answers(project)
    assert usable > 0 and len(answers) == 2 * usable
    own = [row for row in answers if row[2] == "alpha"]
    other = [row for row in answers if row[2] == "thinker"]
    assert len(own) == len(other) == usable
    # the model's own answer keeps the instruction's id; another responder's answer has an id of its own
    assert all(row[0] == row[1] and row[3] == "fake-alpha" and row[4] is None for row in own)
    assert all(row[0] != row[1] and row[3] == "fake-thinker" for row in other)
    # the reasoning model's thinking is apart from its answer: closed blocks answered, the others dropped
    closed = [row for row in other if row[5]]
    assert closed and all(row[4] and "<think>" not in row[6] and row[7] is None for row in closed)
    unclosed = [row for row in other if row[5] is False]
    assert unclosed and all(row[6] == "" and row[7] == "empty" for row in unclosed)
    # the responder's calls are charged to the partition that asked, at the responder's price
    [(calls, cost)] = project.query(
        "SELECT count(*), sum(cost_usd) FROM engine_calls WHERE model = 'alpha' AND engine_label = 'thinker'"
    )
    completion = project.query(
        "SELECT sum(completion_tokens) FROM responses WHERE response_model = 'thinker' AND model = 'alpha'"
    )[0][0]
    assert calls == 1 and cost == pytest.approx(completion)  # one batch (its own batch_size, 16); a dollar a token
    # the reward is judged per answer: one judgement for each answered row, under the answer's id
    answered = {row[1] for row in answers if row[7] is None}
    rewarded = {row[0] for row in project.query("SELECT conversation_id FROM judgements WHERE tag = 'reward'")}
    assert rewarded == answered


def test_responders_are_curated_per_answer_paired_against_each_other_and_resumed(project, tmp_path):
    log = tmp_path / "requests.log"
    engines = FakeEngineResource(thinking_models=["thinker"], request_log=str(log))
    assert project.materialise("alpha", engines).success
    assert project.materialise("thinker", engines).success  # it only answers: its own partition is empty
    assert project.query("SELECT count(*) FROM instructions WHERE model = 'thinker'") == [(0,)]
    assert project.curate(engines).success
    kept = project.query(
        "SELECT r.response_model, count(*) FROM curated_rows c JOIN responses r USING (conversation_id) "
        "WHERE c.drop_reason IS NULL AND c.model = 'alpha' GROUP BY 1 ORDER BY 1"
    )
    closed = project.query(
        "SELECT count(*) FROM responses WHERE model = 'alpha' AND response_model = 'thinker' AND drop_reason IS NULL"
    )[0][0]
    usable = project.query("SELECT count(*) FROM instructions WHERE model = 'alpha' AND drop_reason IS NULL")[0][0]
    assert kept == [("alpha", usable), ("thinker", closed)]  # first of group keeps every answer to a first
    card = (project.backend.exports_path / NIGHT.isoformat() / "README.md").read_text()
    assert "Kept rows by response_model" in card and f"| thinker | {closed} |" in card
    pairs = project.query(
        "SELECT p.conversation_id, p.response_models, p.chosen_model, p.rejected_model, p.chosen_reward, "
        "p.rejected_reward FROM preference_pairs p"
    )
    assert pairs, "instructions both models answered: pairs across them"
    for instruction_id, models, chosen, rejected, chosen_reward, rejected_reward in pairs:
        assert sorted(models) == ["alpha", "thinker"] and {chosen, rejected} == {"alpha", "thinker"}
        assert chosen_reward > rejected_reward
        assert project.query("SELECT count(*) FROM instructions WHERE conversation_id = ?", [instruction_id]) == [(1,)]
    # no new sample for the pairs: every answer came from the responses stage
    sampled = "SELECT count(*) FROM engine_calls WHERE stage = 'preference_pairs' AND engine_label <> 'judge'"
    assert project.query(sampled) == [(0,)]
    requests = log.read_text()
    assert " chat " in requests, "the judge's calls are logged too"
    assert project.materialise("alpha", engines).success
    assert log.read_text() == requests  # a re-run finds every answer and judgement stored: no engine call


def test_a_responder_taken_off_the_list_loses_its_rows_on_the_next_run(project):
    assert project.materialise("alpha", ENGINES).success
    project.catalogue.write_text(project.catalogue.read_text().replace("[alpha, thinker]", "[alpha]"))
    result = project.materialise("alpha", ENGINES)
    assert result.success
    assert project.query("SELECT DISTINCT response_model FROM responses WHERE model = 'alpha'") == [("alpha",)]
    metadata = result.asset_materializations_for_node("responses")[0].metadata
    assert metadata["removed"].value > 0 and metadata["generated"].value == 0
