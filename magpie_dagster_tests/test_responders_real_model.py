"""Responders on the embedded model: one entry writes the instructions, a second entry (the same packaged model
with other sampling, under DeepSeek-R1's template, whose generation prompt opens a <think> block) answers them
beside the first, and its answers come back split into reasoning and answer.

A real model's samples differ from one CPU to the next, so this asserts what holds for any sample: every usable
instruction has one answer from each responder, each under its own id and `response_model`, the responder's
answers were rendered with its own template, and every one of them is split the way its text allows.
"""

from __future__ import annotations

import textwrap

import dagster as dg
import pytest

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.nights import embedded_model_catalogue, real_model_night

pytestmark = pytest.mark.slow

NIGHT = real_model_night("2026-11-28")
ASKER = embedded_model_catalogue(
    template="smollm2", instructions=4, batch_size=4, instruction_max_tokens=64, response_max_tokens=96
).rstrip() + "\n    responders: [smollm2_135m, thinker]\n"
THINKER = """
  - key: thinker
    engine: llama_cpp
    model: packaged:smollm2-135m-instruct
    template: deepseek-r1
    response_sampling: {temperature: 0.3, top_p: 0.9, max_tokens: 64}
    n_ctx: 1024
    n_threads: 2
judging:
  judge: {engine: llama_cpp, model: packaged:smollm2-135m-instruct, n_ctx: 2048, n_threads: 2, tags: [category],
          max_tokens: 64, max_failure_rate: 1.0}
"""


def test_a_second_entry_answers_every_instruction_and_its_thinking_is_split_off(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(ASKER + THINKER))
    warehouse = tmp_path / "magpie.duckdb"
    job = build_definitions(catalogue, warehouse).resolve_job_def("magpie_job")
    result = job.execute_in_process(
        partition_key=model_date_key("smollm2_135m", NIGHT),
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey("raw_instructions"), dg.AssetKey("responses")],
    )
    assert result.success
    with Warehouse(warehouse).connect(read_only=True) as connection:
        usable = connection.execute("SELECT count(*) FROM instructions WHERE drop_reason IS NULL").fetchone()[0]
        answers = connection.execute(
            "SELECT r.instruction_id, r.conversation_id, r.response_model, r.gen_response_configs.prompt, "
            "r.reasoning, r.reasoning_closed, r.response, r.drop_reason, r.gen_response_configs.temperature "
            "FROM responses r JOIN instructions i ON i.conversation_id = r.instruction_id "
            "WHERE i.drop_reason IS NULL ORDER BY i.sample_index, r.response_model"
        ).fetchall()
        thinker_calls = connection.execute(
            "SELECT count(*) FROM engine_calls WHERE engine_label = 'thinker' AND model = 'smollm2_135m'"
        ).fetchone()[0]
    assert usable > 0 and len(answers) == 2 * usable
    by_model = {model: [row for row in answers if row[2] == model] for model in ("smollm2_135m", "thinker")}
    assert len(by_model["smollm2_135m"]) == len(by_model["thinker"]) == usable
    assert all(row[0] == row[1] and row[8] == 0.7 for row in by_model["smollm2_135m"])
    assert thinker_calls == 1  # one batch, charged to the partition that asked
    for instruction_id, answer_id, _, prompt, reasoning, closed, response, drop_reason, temperature in by_model[
        "thinker"
    ]:
        assert answer_id != instruction_id and temperature == 0.3
        assert prompt.endswith("<｜Assistant｜><think>\n")  # its own template opened the thinking
        if closed:  # the model ended its thinking: the answer is what followed
            assert reasoning and "</think>" not in response
        else:  # it never did (or wrote nothing): no answer, and the row says why
            assert response == "" and drop_reason in ("empty", "truncated", "looping")
            assert (reasoning is None) == (closed is None)
