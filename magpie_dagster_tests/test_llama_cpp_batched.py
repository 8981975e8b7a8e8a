"""Batched llama.cpp decoding against the single-stream path, on the packaged model."""

from __future__ import annotations

import json

import llama_cpp
import numpy as np
import pytest
from llama_cpp import LlamaGrammar

from magpie_dagster.domain.completion import ChatRequest, CompletionRequest, EngineError, SamplingParams
from magpie_dagster.domain.tagging.prompts import PROMPTS
from magpie_dagster.domain.tagging.tags import TAGS
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.engines.llama_cpp_batch import BatchedDecoder
from magpie_dagster.engines.llama_cpp_jobs import DecodeJob, cells_needed, shared_prefix
from magpie_dagster.engines.llama_cpp_sampling import GRAMMAR_SHORTLIST
from magpie_dagster.engines.packaged_model import PACKAGED_SMOLLM2

PRE_QUERY = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\n"
)
OPENINGS = ["Tell me", "Why is", "How do I", "Write a", "What", "Can you", "List", "Explain", "Is it", "Give me"]
GREEDY = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=40, stop=("<|im_end|>",))
# Two paths may part ways only where the single-stream path's two best next tokens are this close: batched
# kernels sum in another order, which moved logits by up to about 0.11 here (three of ten greedy runs part ways
# at gaps of 0.014-0.11); a wrong position, sequence id or cache copy gives gaps of several logits.
NEAR_TIE = 0.5


def _job(tokens, max_tokens=10):
    return DecodeJob(tuple(tokens), SamplingParams(max_tokens=max_tokens), seed=1)


def test_shared_prefix_keeps_one_token_of_each_prompt_and_sizes_the_cache():
    jobs = [_job([1, 2, 3, 4]), _job([1, 2, 3, 9, 9]), _job([1, 2, 3])]
    assert shared_prefix(jobs) == (1, 2)  # the third prompt keeps its last token for its first sample
    assert shared_prefix([_job([5, 6])]) == (5,)
    assert shared_prefix([]) == ()
    # prefix 2 + own parts (2 + 10, 3 + 10, 1 + 10): a stream of its own holds the longest, a unified cache the
    # longest that run at once
    assert cells_needed(jobs, prefix_length=2, sequences=1) == 2 + 13
    assert cells_needed(jobs, prefix_length=2, sequences=2) == 2 + 13 + 12
    assert cells_needed(jobs, prefix_length=2, sequences=8) == 2 + 13 + 12 + 11
    assert cells_needed([], prefix_length=0, sequences=1) == 0


@pytest.fixture(scope="module")
def engines():
    with (
        LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=2048, n_threads=2, decoding="sequential") as sequential,
        LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=2048, n_threads=2, parallel_sequences=4) as batched,
    ):
        yield sequential, batched


def _single_stream_tokens(engine: LlamaCppEngine, prompt_tokens, max_tokens: int) -> list[int]:
    """Greedy tokens from llama-cpp-python's own generator (the sequential path's sampler), end token included."""
    llama = engine._llama
    tokens = []
    for token in llama.generate(prompt_tokens, temp=0.0, top_k=40, top_p=1.0, min_p=0.05, reset=True):
        if len(tokens) == max_tokens:
            break
        tokens.append(token)
        if token == llama.token_eos():
            break
    return tokens


def _next_token_logits(engine: LlamaCppEngine, tokens) -> np.ndarray:
    llama = engine._llama
    llama.reset()
    llama.eval(tokens)
    return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()


def _parting_gap(engine: LlamaCppEngine, prompt_tokens, first: str, second: str) -> float:
    """The single stream's logit gap between the two texts' tokens where they part (the end token where one text
    stops and the other goes on)."""
    llama = engine._llama
    a, b = (llama.tokenize(text.encode(), add_bos=False, special=True) for text in (first, second))
    step = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    chosen = [tokens[step] if step < len(tokens) else llama.token_eos() for tokens in (a, b)]
    logits = _next_token_logits(engine, [*prompt_tokens, *a[:step]])
    return abs(float(logits[chosen[0]] - logits[chosen[1]]))


@pytest.mark.slow
def test_greedy_batched_equals_single_stream_up_to_near_ties(engines):
    """Ten prompts on four parallel sequences (finished ones replaced by waiting ones) against the single stream.

    Wherever the paths differ, the single stream's logits at that step must show a near-tie between the two
    chosen tokens; anything else is a bug (a wrong position, sequence id or cache copy), not rounding.
    """
    sequential, batched = engines
    requests = [CompletionRequest(PRE_QUERY + opening, GREEDY, seed=i) for i, opening in enumerate(OPENINGS)]
    jobs = [batched._completion_job(request) for request in requests]
    results = batched._batched_decoder(jobs).run(jobs)
    eos = sequential._llama.token_eos()
    for job, result in zip(jobs, results, strict=True):
        ours = [*result.tokens, *([eos] if result.finish_reason == "stop" else [])]
        reference = _single_stream_tokens(sequential, list(job.prompt_tokens), GREEDY.max_tokens)
        if ours == reference:
            continue
        step = next((i for i, (a, b) in enumerate(zip(ours, reference, strict=False)) if a != b), None)
        assert step is not None, f"one path stopped early without choosing another token: {ours} vs {reference}"
        logits = _next_token_logits(sequential, [*job.prompt_tokens, *reference[:step]])
        gap = abs(float(logits[reference[step]] - logits[ours[step]]))
        assert gap < NEAR_TIE, f"prompt {job.prompt_tokens[-3:]}: paths part at step {step} with a logit gap {gap}"


@pytest.mark.slow
def test_engine_texts_match_between_paths_and_count_tokens(engines):
    sequential, batched = engines
    requests = [CompletionRequest(PRE_QUERY + opening, GREEDY, seed=i) for i, opening in enumerate(OPENINGS[:6])]
    one_by_one = sequential.complete(requests)
    together = batched.complete(requests)
    assert [c.prompt_tokens for c in together] == [c.prompt_tokens for c in one_by_one]
    for request, single, batch in zip(requests, one_by_one, together, strict=True):
        assert 0 < batch.completion_tokens <= GREEDY.max_tokens
        assert batch.finish_reason == ("length" if batch.completion_tokens == GREEDY.max_tokens else "stop")
        assert "<|im_end|>" not in batch.text
        if single.text != batch.text:  # only at a near-tie (see the test above), read back from the texts
            prompt_tokens = batched._completion_job(request).prompt_tokens
            gap = _parting_gap(sequential, prompt_tokens, single.text, batch.text)
            assert gap < NEAR_TIE, f"{single.text!r} and {batch.text!r} part with a logit gap {gap}"


@pytest.mark.slow
def test_stop_strings_max_tokens_and_seeds_are_per_sequence(engines):
    _, batched = engines
    warm = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=24)
    requests = [
        CompletionRequest(PRE_QUERY + "Write a long list of fruits, one per line:\n", SamplingParams(max_tokens=5), 1),
        CompletionRequest(PRE_QUERY, SamplingParams(temperature=1.0, max_tokens=60, stop=(" ", "\n")), 2),
        *[CompletionRequest(PRE_QUERY, warm, seed) for seed in (3, 4, 5, 3)],
    ]
    first, again = batched.complete(requests), batched.complete(requests)
    assert [c.text for c in first] == [c.text for c in again]  # a call's texts depend only on its requests
    assert (first[0].completion_tokens, first[0].finish_reason) == (5, "length")
    assert " " not in first[1].text and "\n" not in first[1].text and first[1].finish_reason in ("stop", "length")
    # Seed 3 twice in one call is NOT asserted equal: the engine promises the same texts for the same call, not for
    # one request in two slots (the slots' KV cells sit at other offsets, and on some CPUs (an AVX2 EPYC) the sums
    # round differently: seen here, two seed-3 texts parted after 81 characters).
    assert len({c.text for c in first[2:5]}) >= 2  # other seeds draw other samples


@pytest.mark.slow
def test_batched_judge_answers_follow_the_schema(engines):
    _, batched = engines
    spec = TAGS["category"]
    requests = [
        ChatRequest(
            messages=tuple(PROMPTS["category"].messages(instruction=text)),
            sampling=SamplingParams(temperature=0.0, max_tokens=160),
            seed=7,
            json_schema=spec.json_schema,
        )
        for text in ["What is 2 + 2?", "Write a haiku about snow.", "Plan my week.", "Fix my Python loop.", "Hi!"]
    ]
    answers = batched.chat(requests)
    finished = [answer for answer in answers if answer.finish_reason == "stop"]
    assert finished, "some constrained answer closes its JSON within 160 tokens"
    for answer in finished:
        columns = spec.parse(answer.text)
        assert columns["task_category"] in spec.json_schema["properties"]["primary_tag"]["enum"]
        json.loads(answer.text)


@pytest.mark.slow
def test_a_request_larger_than_the_context_is_refused_with_the_fix(engines):
    _, batched = engines
    request = CompletionRequest(PRE_QUERY, SamplingParams(max_tokens=4000), seed=1)
    with pytest.raises(EngineError, match="more than the entry's n_ctx 2048: raise n_ctx"):
        batched.complete([request])


def _masked_argmax(decoder, grammar, logits: np.ndarray) -> int:
    decoder._tokens.grammar_masked(grammar, logits)
    return int(np.argmax(decoder._tokens.candidate_buffer["logit"]))


@pytest.mark.slow
def test_greedy_under_a_grammar_picks_what_masking_the_whole_vocabulary_picks(engines):
    """The shortlist shortcut against the full mask: first choice allowed, allowed close behind, allowed far down."""
    _, batched = engines
    decoder = batched._batched_decoder([_job([1, 2, 3])])
    schema = json.dumps(TAGS["difficulty"].json_schema)
    grammar = llama_cpp.llama_sampler_init_grammar(
        decoder._vocab, LlamaGrammar.from_json_schema(schema, verbose=False)._grammar.encode(), b"root"
    )
    try:
        rng = np.random.default_rng(0)
        logits = rng.normal(size=decoder._tokens.n_vocab).astype(np.float32)
        decoder._tokens.grammar_masked(grammar, np.zeros(decoder._tokens.n_vocab, dtype=np.float32))
        allowed = np.flatnonzero(~np.isinf(decoder._tokens.candidate_buffer["logit"]))
        refused = np.setdiff1d(np.arange(decoder._tokens.n_vocab), allowed)
        assert len(allowed) == 2  # an answer opens with `{` or `{"`: every other token is refused
        lower, higher = allowed
        cases = {
            "first choice allowed": 0,
            "close behind": 5,
            "tied with the shortlist's last place": GRAMMAR_SHORTLIST - 1,
            "past the shortlist": GRAMMAR_SHORTLIST + 50,
        }
        for case, refused_above in cases.items():
            for lower_logit, expected in ((9.5, lower), (9.0, higher)):  # a tie goes to the lower id
                trial = logits.copy()
                trial[refused[:refused_above]] = 10.0 + np.arange(refused_above, dtype=np.float32)
                trial[lower], trial[higher] = lower_logit, 9.5
                assert _masked_argmax(decoder, grammar, trial) == expected, case
                assert decoder._tokens.greedy_allowed(grammar, trial) == expected, case
    finally:
        llama_cpp.llama_sampler_free(grammar)


@pytest.mark.slow
def test_a_restored_prefix_gives_the_texts_a_fresh_engine_gives(engines, monkeypatch):
    """Two judge prompts in turn: the second call of each restores its rubric instead of evaluating it again."""
    _, batched = engines
    evaluated = []
    original = BatchedDecoder._prefill

    def counting(self, seq_id, tokens, start, *, want_logits):
        if seq_id == self._prefix_seq:
            evaluated.append(len(tokens))
        return original(self, seq_id, tokens, start, want_logits=want_logits)

    def judge(engine, tag):
        requests = [
            ChatRequest(tuple(PROMPTS[tag].messages(instruction=text)), SamplingParams(0.0, max_tokens=60), 7,
                        TAGS[tag].json_schema)
            for text in ["What is 2 + 2?", "Write a haiku about snow.", "Plan my week."]
        ]
        return [completion.text for completion in engine.chat(requests)]

    monkeypatch.setattr(BatchedDecoder, "_prefill", counting)
    first = [judge(batched, "difficulty"), judge(batched, "quality")]
    assert batched._decoder.unified  # the rubric is kept once, not copied per sequence
    evaluated_first = len(evaluated)
    again = [judge(batched, "difficulty"), judge(batched, "quality")]
    assert len(evaluated) == evaluated_first, "the second call of each prompt evaluated its prefix again"
    assert first == again
    with LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=2048, n_threads=2, parallel_sequences=4) as fresh:
        assert [judge(fresh, "quality"), judge(fresh, "difficulty")] == [first[1], first[0]]


@pytest.mark.slow
def test_every_draw_sees_each_token_with_its_own_logit(engines):
    """Top-k sorts the candidate buffer in place: the next draw must not pair logits with the sorted ids."""
    _, batched = engines
    decoder = batched._batched_decoder([_job([1, 2, 3])])
    warm = decoder._tokens.chain(SamplingParams(temperature=0.7, top_p=0.9), 3)
    try:
        rng = np.random.default_rng(1)
        for _ in range(3):
            logits = rng.normal(size=decoder._tokens.n_vocab).astype(np.float32)
            candidates = decoder._tokens.candidates(logits)
            assert np.array_equal(decoder._tokens.candidate_buffer["id"], np.arange(decoder._tokens.n_vocab))
            assert np.array_equal(decoder._tokens.candidate_buffer["logit"], logits)
            decoder._tokens.apply(warm, candidates)
    finally:
        llama_cpp.llama_sampler_free(warm)


def test_a_stream_keeps_every_slot_busy_until_its_one_tail(engines):
    """The engine's stream: a finished sequence's slot takes the next request at once, across the caller's commit
    batches, so steps with a free slot come only after the last request started (at most its max_tokens of them).
    Called a batch at a time, every call waits for its longest sequence with slots idle."""
    _, batched = engines
    caps = [2, 4, 6, 8]  # each batch of four holds sequences of different lengths, whatever is sampled
    requests = [
        CompletionRequest(
            PRE_QUERY + OPENINGS[seed % len(OPENINGS)],
            SamplingParams(temperature=1.0, max_tokens=caps[seed % 4], stop=("<|im_end|>",)),
            seed,
        )
        for seed in range(20)
    ]
    decoder = batched._batched_decoder([batched._completion_job(request) for request in requests])
    before = decoder.underfull_steps
    streamed = list(batched.complete_stream(requests, 4))
    after_stream = decoder.underfull_steps
    for start in range(0, len(requests), 4):
        batched.complete(requests[start : start + 4])
    assert batched._decoder is decoder and not decoder.unified  # both ran on one context of per-sequence streams
    batch_tails, stream_tail = decoder.underfull_steps - after_stream, after_stream - before
    assert sorted(index for index, _ in streamed) == list(range(20))
    assert all(completion.completion_tokens <= requests[index].sampling.max_tokens for index, completion in streamed)
    assert stream_tail <= max(caps)
    assert batch_tails > stream_tail
    assert list(batched.complete_stream([], 4)) == [] and batched.complete([]) == []


def test_a_job_longer_than_the_context_holds_is_refused_with_what_to_change(engines):
    _, batched = engines
    decoder = batched._batched_decoder([_job([1, 2, 3], max_tokens=10)])
    with pytest.raises(EngineError, match=r"needs 1003 KV cells .* holds 256 per sequence: raise the entry's n_ctx"):
        decoder.run([_job([1, 2, 3], max_tokens=1000), _job([1, 2, 4], max_tokens=10)])
