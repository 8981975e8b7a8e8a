"""Batched decoding on llama.cpp: many sequences advance together, one `llama_decode` per step for all of them.

llama-cpp-python's high-level API decodes one sequence at a time, which leaves a CPU's matrix kernels waiting on
a one-token batch; decoding 8-32 sequences together turns each step into a small matrix product. Here each request
gets a KV-cache sequence id on a context of its own (over the already loaded model, so no second copy of the
weights), its own sampler chain (seed, temperature, top_p, grammar for JSON schemas), its stop strings and
max_tokens; a finished sequence frees its cells and a waiting request takes its place.

Each sequence has a KV stream of its own (`kv_unified` off), so a step's attention reads each sequence's own cells:
in one unified cache every token attends over the span of all sequences' cells, which grows with a partition's
length (a step of 16 cost 104 ms over 256 cells, 230 ms over 6,400; 100 ms either way with own streams,
docs/performance.md). A step's tokens go in stream order: out of order, llama.cpp's per-stream path ran 1.5x slower.

The prompt prefix that all requests of a call share (Magpie's pre-query template; a judge's system turn and rubric)
is evaluated once, into a sequence of its own, and copied to each request's sequence. A long one (a judge's) is
kept once in a unified cache instead, where a copy shares its cells (`llama_cpp_jobs.holds_prefix_once`).
Tokens are chosen as llama-cpp-python's own path chooses them (`llama_cpp_sampling.py`), so both paths sample alike.
A call's requests may be streamed (`stream`): results come as sequences finish, and the slots stay full until the
last request has started.
"""

from __future__ import annotations

import ctypes
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import llama_cpp
from llama_cpp._utils import suppress_stdout_stderr

from magpie_dagster.domain.completion import EngineError
from magpie_dagster.engines.llama_cpp_jobs import DecodeJob, DecodeResult, cells_needed, shared_prefix
from magpie_dagster.engines.llama_cpp_sampling import TokenSampler
from magpie_dagster.engines.prefix_states import PrefixStates

STREAM_PADDING = 256  # llama.cpp rounds a stream's cells up to this


@dataclass
class _Sequence:
    index: int
    job: DecodeJob
    seq_id: int
    sampler: ctypes.c_void_p
    grammar: ctypes.c_void_p | None
    position: int
    last_token: int = -1
    generated: list[int] = field(default_factory=list)
    pieces: bytearray = field(default_factory=bytearray)
    """The generated tokens' text as bytes, a piece appended per token (detokenising all of it each step was
    quadratic in Python)."""
    text: str | None = None  # set when a stop string cut it
    finish_reason: str = "stop"


class BatchedDecoder:
    """A decoding context for up to `max_sequences` sequences over a loaded `llama_cpp.Llama` model: `cells` KV cells
    for each sequence's own stream (shared prefix, own prompt and output), or for all of them when `unified`."""

    def __init__(
        self,
        llama: llama_cpp.Llama,
        *,
        max_sequences: int,
        cells: int,
        unified: bool,
        n_threads: int | None,
        prefix_states: PrefixStates | None = None,
    ) -> None:
        self._llama = llama
        self._model = llama.model
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self._tokens = TokenSampler(self._vocab, llama.n_vocab())
        self._max_sequences = max_sequences
        self._prefix_seq = max_sequences  # the shared prefix lives in a sequence of its own
        # The high-level context's parameters (attention kernels, KV types, threads), so both paths compute alike.
        params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)
        # llama.cpp gives each stream n_ctx / n_seq_max cells, rounded up to 256.
        self.cells = max(-(-cells // STREAM_PADDING), 1) * STREAM_PADDING
        self.unified = unified
        params.n_seq_max = max_sequences + 1
        params.n_ctx = self.cells if unified else self.cells * params.n_seq_max
        params.n_batch = min(self.cells, 2048)
        params.n_ubatch = min(self.cells, 512)
        params.kv_unified = unified
        if n_threads:
            params.n_threads = n_threads
            params.n_threads_batch = n_threads
        with suppress_stdout_stderr(disable=llama.verbose):
            self._ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not self._ctx:
            raise EngineError(f"llama.cpp could not create a batched context of {params.n_ctx} tokens")
        self._n_batch = params.n_batch
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        self._piece_buffer = ctypes.create_string_buffer(64)
        self._bos = llama_cpp.llama_vocab_bos(self._vocab)
        self._prefix_states = prefix_states if prefix_states is not None else PrefixStates()
        # Decoding steps run with a free slot: streamed, these are the stream's one tail.
        self.underfull_steps = 0

    def close(self) -> None:
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            self._ctx = None

    def run(self, jobs: Sequence[DecodeJob]) -> list[DecodeResult]:
        """One result per job, in order. Each call starts from an empty cache, so results depend only on `jobs`."""
        results = dict(self.stream(jobs))
        return [results[index] for index in range(len(jobs))]

    def stream(self, jobs: Sequence[DecodeJob]) -> Iterator[tuple[int, DecodeResult]]:
        """(job index, result) as each sequence finishes; a finished sequence's slot takes the next job at once, so
        every step decodes `max_sequences` sequences until the last job has started (the one tail)."""
        memory = llama_cpp.llama_get_memory(self._ctx)
        llama_cpp.llama_memory_clear(memory, True)
        if not jobs:
            return
        prefix = shared_prefix(jobs)
        self._check_fits(jobs, len(prefix))
        if prefix:
            self._load_prefix(prefix)
        waiting = deque(enumerate(jobs))
        free_ids = list(range(self._max_sequences))
        active: list[_Sequence] = []
        try:
            while waiting or active:
                while waiting and free_ids:
                    index, job = waiting.popleft()
                    sequence = self._start(index, job, free_ids.pop(), prefix, memory)
                    if not self._accept(sequence, self._sample(sequence, -1)):
                        active.append(sequence)
                    else:
                        yield index, self._finish(sequence, memory, free_ids)
                if not active:
                    continue
                active.sort(key=lambda sequence: sequence.seq_id)  # the step's tokens in stream order
                self._step(active)
                still_active, done = [], []
                for batch_index, sequence in enumerate(active):
                    if self._accept(sequence, self._sample(sequence, batch_index)):
                        done.append((sequence.index, self._finish(sequence, memory, free_ids)))
                    else:
                        still_active.append(sequence)
                active = still_active
                yield from done
        finally:
            for sequence in active:
                _free_samplers(sequence)

    def _load_prefix(self, prefix: tuple[int, ...]) -> None:
        """The shared prefix into its sequence: restored when a recent call evaluated it, else evaluated and kept.

        A judge runs one tag's batches one after another, each starting with the same system turn and rubric
        (~260 tokens, ~15 % of a 16-item call). A restored state is the evaluated one byte for byte, placed in
        the same cells of the same empty cache, so a call's texts still depend only on its requests.
        """
        state = self._prefix_states.get(prefix)
        if state is not None:
            buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if llama_cpp.llama_state_seq_set_data(self._ctx, buffer, len(state), self._prefix_seq):
                return
        self._prefill(self._prefix_seq, prefix, 0, want_logits=False)
        size = llama_cpp.llama_state_seq_get_size(self._ctx, self._prefix_seq)
        if self._prefix_states.worth_keeping(size):
            buffer = (ctypes.c_uint8 * size)()
            llama_cpp.llama_state_seq_get_data(self._ctx, buffer, size, self._prefix_seq)
            self._prefix_states.put(prefix, bytes(buffer))

    def _check_fits(self, jobs: Sequence[DecodeJob], prefix_length: int) -> None:
        needed = cells_needed(jobs, prefix_length, self._max_sequences if self.unified else 1)
        if needed > self.cells:
            raise EngineError(
                f"llama.cpp batched decoding needs {needed} KV cells but its context holds {self.cells} "
                f"{'in all' if self.unified else 'per sequence'}: raise the entry's n_ctx, or lower max_tokens"
            )

    def _start(self, index: int, job: DecodeJob, seq_id: int, prefix: tuple[int, ...], memory) -> _Sequence:
        if prefix:  # between streams llama.cpp copies whole streams (-1, -1): the prefix's holds just the prefix
            start, end = (0, len(prefix)) if self.unified else (-1, -1)
            llama_cpp.llama_memory_seq_cp(memory, self._prefix_seq, seq_id, start, end)
        own = job.prompt_tokens[len(prefix) :]
        self._prefill(seq_id, own, len(prefix), want_logits=True)
        return _Sequence(
            index=index,
            job=job,
            seq_id=seq_id,
            sampler=self._tokens.chain(job.sampling, job.seed),
            grammar=(
                llama_cpp.llama_sampler_init_grammar(self._vocab, job.grammar.encode("utf-8"), b"root")
                if job.grammar
                else None
            ),
            position=len(job.prompt_tokens),
        )

    def _prefill(self, seq_id: int, tokens: Sequence[int], start: int, *, want_logits: bool) -> None:
        for offset in range(0, len(tokens), self._n_batch):
            chunk = tokens[offset : offset + self._n_batch]
            last_chunk = offset + self._n_batch >= len(tokens)
            self._batch.n_tokens = 0
            for position, token in enumerate(chunk):
                logits = want_logits and last_chunk and position == len(chunk) - 1
                self._add(token, start + offset + position, seq_id, logits)
            self._decode()

    def _step(self, active: Sequence[_Sequence]) -> None:
        self.underfull_steps += len(active) < self._max_sequences
        self._batch.n_tokens = 0
        for sequence in active:
            self._add(sequence.last_token, sequence.position, sequence.seq_id, True)
            sequence.position += 1
        self._decode()

    def _add(self, token: int, position: int, seq_id: int, logits: bool) -> None:
        batch, slot = self._batch, self._batch.n_tokens
        batch.token[slot] = token
        batch.pos[slot] = position
        batch.n_seq_id[slot] = 1
        batch.seq_id[slot][0] = seq_id
        batch.logits[slot] = logits
        batch.n_tokens = slot + 1

    def _decode(self) -> None:
        status = llama_cpp.llama_decode(self._ctx, self._batch)
        if status != 0:
            raise EngineError(f"llama.cpp batched decode failed with status {status} (1: no KV cache slot left)")

    def _sample(self, sequence: _Sequence, batch_index: int) -> int:
        return self._tokens.sample(self._ctx, sequence.sampler, sequence.grammar, sequence.job.sampling, batch_index)

    def _accept(self, sequence: _Sequence, token: int) -> bool:
        """Records the sampled token; True when the sequence is done."""
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            sequence.finish_reason = "stop"
            return True
        sequence.generated.append(token)
        sequence.pieces += self._piece(token)
        sequence.last_token = token
        stops = [stop for stop in sequence.job.sampling.stop if stop]
        if stops:
            text = self._text(sequence)
            cuts = [text.find(stop) for stop in stops if stop in text]
            if cuts:
                sequence.text = text[: min(cuts)]
                sequence.finish_reason = "stop"
                return True
        if len(sequence.generated) >= sequence.job.sampling.max_tokens:
            sequence.finish_reason = "length"
            return True
        return False

    def _finish(self, sequence: _Sequence, memory, free_ids: list[int]) -> DecodeResult:
        llama_cpp.llama_memory_seq_rm(memory, sequence.seq_id, -1, -1)
        _free_samplers(sequence)
        free_ids.append(sequence.seq_id)
        return DecodeResult(
            text=self._text(sequence) if sequence.text is None else sequence.text,
            prompt_tokens=len(sequence.job.prompt_tokens),
            completion_tokens=len(sequence.generated),
            finish_reason=sequence.finish_reason,
            tokens=tuple(sequence.generated),
        )

    def _piece(self, token: int) -> bytes:
        """A token's text as llama-cpp-python's `detokenize` writes it (special tokens as nothing)."""
        size = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buffer, len(self._piece_buffer), 0, False)
        if size < 0:  # the buffer is too small: llama.cpp says how large it must be
            self._piece_buffer = ctypes.create_string_buffer(-size)
            return self._piece(token)
        return self._piece_buffer.raw[:size]

    def _text(self, sequence: _Sequence) -> str:
        # Decoded as a whole, as llama-cpp-python does: a multi-byte character may span tokens.
        pieces = sequence.pieces
        if sequence.generated[:1] == [self._bos] and pieces[:1] == b" ":
            pieces = pieces[1:]  # llama-cpp-python's `detokenize` drops the space after a leading BOS
        return pieces.decode("utf-8", errors="ignore")


def _free_samplers(sequence: _Sequence) -> None:
    llama_cpp.llama_sampler_free(sequence.sampler)
    if sequence.grammar is not None:
        llama_cpp.llama_sampler_free(sequence.grammar)
