"""Choosing each next token in llama.cpp's batched decoding: the sampler chain llama-cpp-python builds for
`create_completion` (penalties, then greedy, or top_k 40, typical 1, top_p, min_p 0.05, temperature, seeded draw),
and a JSON schema's grammar checked the way llama.cpp's own `common_sampler` does it: the chain picks a token, the
grammar tests that one token, and only when it refuses is the grammar applied to the whole vocabulary and the token
drawn again. Masking 49k candidates per token is what made constrained decoding slow; most tokens pass the one-token
test."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Sequence

import llama_cpp
import numpy as np

from magpie_dagster.domain.completion import SamplingParams

# llama-cpp-python's `create_completion` defaults, mirrored so both paths draw from the same distribution.
TOP_K = 40
MIN_P = 0.05
TYPICAL_P = 1.0
PENALTY_LAST_N = 64
# Tokens tried against a grammar before it masks the whole vocabulary (see `_greedy_allowed`).
GRAMMAR_SHORTLIST = 64


class TokenSampler:
    """Sampler chains and grammar checks over one model's vocabulary, with the candidate buffer they share."""

    def __init__(self, vocab, n_vocab: int) -> None:
        self.vocab = vocab
        self.n_vocab = n_vocab
        self.candidate_buffer = np.zeros(
            n_vocab, dtype=np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)
        )
        self._token_ids = np.arange(n_vocab, dtype=np.int32)

    def sample(self, ctx, sampler, grammar, sampling: SamplingParams, batch_index: int) -> int:
        """The next token of the sequence whose logits are row `batch_index` of the last decode."""
        if grammar is None:
            return llama_cpp.llama_sampler_sample(sampler, ctx, batch_index)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, batch_index), shape=(self.n_vocab,))
        if plain_greedy(sampling):
            token = self.greedy_allowed(grammar, logits)
        else:
            token = self.apply(sampler, self.candidates(logits))
            if not self.allowed(grammar, [token], logits):
                token = self.apply(sampler, self.grammar_masked(grammar, logits))
        llama_cpp.llama_sampler_accept(grammar, token)
        llama_cpp.llama_sampler_accept(sampler, token)
        return token

    def greedy_allowed(self, grammar, logits: np.ndarray) -> int:
        """The highest-logit token the grammar allows, first of equal ones: the greedy chain after masking.

        Looked for among the best `GRAMMAR_SHORTLIST` tokens before masking the whole vocabulary (~4 ms a
        token): where the grammar refuses the model's first choice (a JSON key, a closing quote), the token it
        wants is nearly always close behind.
        """
        best = int(np.argmax(logits))
        if self.allowed(grammar, [best], logits):
            return best
        shortlist = np.argpartition(logits, -GRAMMAR_SHORTLIST)[-GRAMMAR_SHORTLIST:]
        allowed = self.allowed(grammar, shortlist.tolist(), logits)
        if allowed:
            token = min(allowed, key=lambda t: (-logits[t], t))
            if logits[token] > logits[shortlist].min():  # nothing outside the shortlist can tie with it
                return token
        self.grammar_masked(grammar, logits)
        return int(np.argmax(self.candidate_buffer["logit"]))

    def grammar_masked(self, grammar, logits: np.ndarray) -> llama_cpp.llama_token_data_array:
        """Every token, those the grammar refuses at -inf."""
        candidates = self.candidates(logits)
        llama_cpp.llama_sampler_apply(grammar, ctypes.byref(candidates))
        return candidates

    def candidates(self, logits: np.ndarray) -> llama_cpp.llama_token_data_array:
        """Every token with its logit, in a buffer the samplers edit in place (kept alive by `self`).

        The ids are written each time too: top-k sorts the buffer, and a draw that reused the sorted ids would
        pair each logit with another token.
        """
        self.candidate_buffer["id"] = self._token_ids
        self.candidate_buffer["logit"] = logits
        self.candidate_buffer["p"] = 0.0
        return llama_cpp.llama_token_data_array(
            data=self.candidate_buffer.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)),
            size=self.n_vocab,
            selected=-1,
            sorted=False,
        )

    @staticmethod
    def apply(sampler, candidates: llama_cpp.llama_token_data_array) -> int:
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
        return candidates.data[candidates.selected].id

    @staticmethod
    def allowed(grammar, tokens: Sequence[int], logits: np.ndarray) -> list[int]:
        """Which of `tokens` the grammar accepts next (it sets the others' logits to -inf)."""
        data = (llama_cpp.llama_token_data * len(tokens))(
            *(llama_cpp.llama_token_data(token, float(logits[token]), 0.0) for token in tokens)
        )
        candidates = llama_cpp.llama_token_data_array(data=data, size=len(tokens), selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(grammar, ctypes.byref(candidates))
        return [entry.id for entry in data if not math.isinf(entry.logit)]

    def chain(self, sampling: SamplingParams, seed: int):
        """llama-cpp-python's own chain for `create_completion`'s sampling; free it with `llama_sampler_free`."""
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())

        def add(sampler) -> None:
            llama_cpp.llama_sampler_chain_add(chain, sampler)

        # The binding's argument list, exactly as llama-cpp-python's own sampler passes it.
        add(
            llama_cpp.llama_sampler_init_penalties(self.n_vocab, PENALTY_LAST_N, sampling.repetition_penalty, 0.0, 0.0)
        )
        if sampling.temperature == 0.0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            add(llama_cpp.llama_sampler_init_top_k(TOP_K))
            add(llama_cpp.llama_sampler_init_typical(TYPICAL_P, 1))
            add(llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1))
            add(llama_cpp.llama_sampler_init_min_p(MIN_P, 1))
            add(llama_cpp.llama_sampler_init_temp(sampling.temperature))
            add(llama_cpp.llama_sampler_init_dist(seed))
        return chain


def plain_greedy(sampling: SamplingParams) -> bool:
    """Whether the chain is greedy with its penalties a no-op (a judge's first attempt): then it is an argmax."""
    return sampling.temperature == 0.0 and sampling.repetition_penalty == 1.0
