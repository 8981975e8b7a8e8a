"""A partition is one stream through the engine: rows finish in any order, commit in batches on a writer thread,
and the stored rows are those of batch-by-batch decoding (a fake engine here; the real engine's slots are in
test_llama_cpp_batched.py)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from magpie_dagster.domain.completion import Completion, CompletionRequest, EngineError, SamplingParams
from magpie_dagster.domain.costs.metering import MeteredEngine
from magpie_dagster.domain.engine_config import Price
from magpie_dagster.domain.streaming import BatchWriter
from magpie_dagster.engines.fake import FakeEngine
from magpie_dagster_tests.backends import file_backend
from magpie_dagster_tests.fakes import FakeEngineResource
from magpie_dagster_tests.projects import Project

NIGHT = dt.date(2026, 11, 20)

CATALOGUE = """
start_date: "2026-11-01"
models:
  - key: alpha
    engine: llama_cpp
    model: packaged:smollm2-135m-instruct
    template: smollm2
    instructions_per_batch: 23
    batch_size: 5
    system_prompts:
      - {name: math, weight: 1, text: "You are a math tutor."}
      - {name: default, weight: 1}
judging: {judge: {engine: llama_cpp, model: packaged:smollm2-135m-instruct}}  # the judge streams too
"""
ROWS = {
    "instructions": "SELECT conversation_id, fingerprint, instruction, drop_reason, sample_index FROM instructions",
    "responses": "SELECT conversation_id, fingerprint, response, drop_reason, instruction_id FROM responses",
    "judgements": "SELECT conversation_id, tag, status, fields, raw_answer, error, attempts FROM judgements",
}


def stored(project: Project) -> dict[str, list[tuple]]:
    return {table: sorted(project.query(sql), key=repr) for table, sql in ROWS.items()}


def test_a_partition_streamed_out_of_order_stores_what_batches_store(tmp_path):
    """Generation and judging (half the judge's first answers garbage, so retries stream too) on two warehouses:
    one engine answers a batch at a time in request order, the other the whole stream shortest first."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    results = {}
    for continuous in (False, True):
        project = Project(catalogue, file_backend(tmp_path / str(continuous)), NIGHT)
        engines = FakeEngineResource(judge_script="garbage_for_odd_seeds", continuous=continuous)
        assert project.materialise("alpha", engines=engines).success
        results[continuous] = stored(project)
    assert len(results[False]["instructions"]) == 23 and len(results[False]["responses"]) == 23
    assert {row[6] for row in results[False]["judgements"]} > {1}  # some judgements took a retry
    assert results[True] == results[False]


def test_every_batch_handed_over_is_stored_when_the_producer_fails():
    stored_batches = []
    with pytest.raises(EngineError, match="went away"), BatchWriter(stored_batches.append) as writer:
        writer.put([1, 2])
        writer.put([3])
        raise EngineError("the server went away")
    assert stored_batches == [[1, 2], [3]]


def test_a_failed_store_reaches_the_producer_and_later_batches_are_not_stored():
    stored_batches = []

    def store(batch):
        if batch == ["bad"]:
            raise RuntimeError("constraint violated")
        stored_batches.append(batch)

    with pytest.raises(RuntimeError, match="constraint violated"), BatchWriter(store) as writer:
        writer.put(["ok"])
        writer.put(["bad"])
        for _ in range(50):
            time.sleep(0.01)
            writer.put(["after"])
    assert stored_batches == [["ok"]]


def test_batches_store_on_another_thread_while_the_producer_goes_on():
    release = threading.Event()
    threads = []

    def store(batch):
        threads.append(threading.current_thread().name)
        release.wait(5)

    with BatchWriter(store, depth=2) as writer:
        writer.put("first")  # the writer takes it and blocks in store
        time.sleep(0.05)
        started = time.monotonic()
        writer.put("second")
        writer.put("third")  # both wait in the queue; neither put waits for a store
        assert time.monotonic() - started < 1.0
        release.set()
    assert threads == ["batch-writer"] * 3


def test_a_metered_stream_records_a_call_per_chunk_and_what_a_failure_left():
    calls = []
    requests = [CompletionRequest(f"prompt {index}", SamplingParams(max_tokens=8), index) for index in range(7)]
    engine = MeteredEngine(FakeEngine(continuous=True), "alpha", Price(), calls.append)
    finished = list(engine.complete_stream(requests, 3))
    assert sorted(index for index, _ in finished) == list(range(7))
    assert [call.requests for call in calls] == [3, 3, 1]
    assert sum(call.completion_tokens for call in calls) == sum(c.completion_tokens for _, c in finished)

    class Failing(FakeEngine):
        def complete(self, batch):
            if batch[0].seed >= 3:
                raise EngineError("timed out")
            return super().complete(batch)

    calls.clear()
    with pytest.raises(EngineError):
        list(MeteredEngine(Failing(), "alpha", Price(), calls.append).complete_stream(requests, 3))
    assert [(call.requests, call.error) for call in calls] == [(3, None), (4, "EngineError: timed out")]


def test_the_default_stream_is_the_engine_called_a_chunk_at_a_time():
    class Counting(FakeEngine):
        calls: list[int] = []

        def complete(self, batch):
            self.calls.append(len(batch))
            return super().complete(batch)

    engine = Counting()
    requests = [CompletionRequest("user", SamplingParams(max_tokens=4), seed) for seed in range(11)]
    finished = list(engine.complete_stream(requests, 4))
    assert [index for index, _ in finished] == list(range(11))
    assert engine.calls == [4, 4, 3]
    assert all(isinstance(completion, Completion) for _, completion in finished)
