"""Responses and instructions that loop get their own drop reason: real looping output of the packaged SmolLM2
(greedy, captured on this project's CI machine) is caught, and lists, refrains, phrases repeated far apart and the
numbers a user gives are not."""

from __future__ import annotations

import textwrap

import pytest

from magpie_dagster.domain.completion import Completion
from magpie_dagster.domain.generation.responses import response_drop_reason
from magpie_dagster.domain.generation.sanitise import drop_reason, sanitise_instruction
from magpie_dagster.domain.repetition import instruction_loops, loops
from magpie_dagster_tests.fakes import FakeEngineResource
from magpie_dagster_tests.projects import Project
from magpie_dagster_tests.test_generation_assets import CATALOGUE, NIGHT

SMOLLM2_SYNONYMS = "Sure, here are 50 synonyms for happy:\n\n" + "* Calm\n" * 71
SMOLLM2_POEM = (
    "In the depths of the ocean, where shadows play,\nAbe a sea of dreams,\nThe ocean's a place of endless wonder,\n"
    "Abe a sea of dreams,\n\n"
    + "The ocean's a place of endless wonder,\nAbe a sea of dreams,\nAbe a sea of dreams,\nAbe a sea of dreams,\n\n" * 6
)
SMOLLM2_COUNTING = "".join(f"{n}. {n}\n" for n in range(1, 21))  # "Count from 1 to 1000": varied, not a loop
SMOLLM2_PRIMES = "Here is a list of all prime numbers up to 20:\n\n" + ", ".join(
    str(n) for n in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)
)
SMOLLM2_ESSAY = (  # the same long phrase twice, paragraphs apart: repetitive prose, not a loop
    "Kant argued that the meaning of life is not just a matter of personal choices, but rather a duty to live a life "
    "that is guided by reason and to act in accordance with moral principles.\n\nIn modern times, the concept has "
    "been reinterpreted by various traditions. Some philosophers have argued that the meaning of life is not just a "
    "matter of personal choices, but rather a moral obligation to live a life that is guided by reason."
)


@pytest.mark.parametrize("text", [SMOLLM2_SYNONYMS, SMOLLM2_POEM, "very " * 30, "Ja. " * 25, "答案是五。 " * 30])
def test_real_and_simple_loops_are_caught(text):
    assert loops(text)


@pytest.mark.parametrize(
    "text",
    [
        SMOLLM2_COUNTING,
        SMOLLM2_PRIMES,
        SMOLLM2_ESSAY,
        "def f():\n    if x:\n        if y:\n            return 1\n        }\n    }\n}\n",  # a few closing braces
        "Row, row, row your boat, gently down the stream. " * 3,  # a refrain three times
        "ok " * 20,  # short: under 24 words
        "",
    ],
)
def test_lists_refrains_and_repeated_phrases_are_not_loops(text):
    assert not loops(text)


@pytest.mark.parametrize(
    "text",
    [
        "Find a cheap hotel near example.com.com.com.com.com.com.com",  # the README night's curated row, issue 29
        "Write a slogan: buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now",
        "Tell me a joke hahahahahahahahahahahahahahaha",
    ],
)
def test_instructions_that_loop_inside_a_line_are_caught(text):
    assert instruction_loops(text)
    assert drop_reason(text, sanitise_instruction(text), "stop") == "looping"


@pytest.mark.parametrize(
    "text",
    [
        "Find the mean of 1, 1, 1, 1, 1, 1, 1, 1, 2.",  # numbers a user gives
        "Convert 1010101010101010101010101010 to decimal.",
        "What is 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF as a decimal number?",
        "Is it very very very cold in Oslo in January?",
        "Row, row, row your boat: where does this song come from?",
    ],
)
def test_numbers_and_emphasis_in_an_instruction_are_not_loops(text):
    assert not instruction_loops(text)


def test_an_instruction_loop_is_named_before_the_max_tokens_it_runs_into():
    looping = "Suggest a domain name: shop.com.com.com.com.com.com.com.com.com"
    assert drop_reason(looping, sanitise_instruction(looping), "length") == "looping"


def test_a_loop_is_named_before_the_max_tokens_it_runs_into():
    assert response_drop_reason(Completion(SMOLLM2_SYNONYMS, 10, 300, "length")) == "looping"
    assert response_drop_reason(Completion(SMOLLM2_PRIMES, 10, 300, "length")) == "truncated"
    assert response_drop_reason(Completion(SMOLLM2_ESSAY, 10, 90, "stop")) is None


@pytest.fixture
def generation_project(tmp_path, backend):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(CATALOGUE))
    return Project(catalogue, backend, NIGHT)


def test_looping_responses_are_stored_with_their_reason_and_counted(generation_project):
    project = generation_project
    result = project.materialise("alpha", FakeEngineResource(script="looping_answers"))
    assert result.success
    metadata = result.asset_materializations_for_node("responses")[0].metadata
    reasons = dict(project.query("SELECT coalesce(drop_reason, 'kept'), count(*) FROM responses GROUP BY 1"))
    assert reasons.get("looping", 0) > 0 and reasons.get("kept", 0) > 0
    assert metadata["drop_reasons"].value.get("looping") == reasons["looping"]
    looping = project.query("SELECT response FROM responses WHERE drop_reason = 'looping' AND partition_date = ?",
                    [NIGHT])  # fmt: skip
    assert all(loops(text) for (text,) in looping)


def test_the_dataset_card_counts_looping_responses_among_the_unusable_rows(tmp_path):
    from magpie_dagster_tests.backends import file_backend
    from magpie_dagster_tests.test_nightly_chain import CATALOGUE as NIGHT_CATALOGUE
    from magpie_dagster_tests.test_nightly_chain import NIGHT as CHAIN_NIGHT
    from magpie_dagster_tests.test_nightly_chain import run_night

    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(NIGHT_CATALOGUE)
    project = Project(catalogue, file_backend(tmp_path), CHAIN_NIGHT)
    assert all(result.success for result in run_night(project, script="looping_answers"))
    looping = project.query("SELECT count(*) FROM responses WHERE drop_reason = 'looping'")[0][0]
    card = (project.backend.exports_path / CHAIN_NIGHT.isoformat() / "README.md").read_text()
    assert looping > 0 and "### Generated but unusable (never curated)" in card
    assert f"| response: looping | {looping} |" in card
