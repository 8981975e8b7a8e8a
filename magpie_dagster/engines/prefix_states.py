"""Evaluated shared prompt prefixes kept as KV-cache states, so the batched decoder restores instead of evaluating.

A judge runs one tag's batches one after another, each starting with the same system turn and rubric; the batched
decoder (`llama_cpp_batch`) saves that prefix's state after evaluating it and loads it on the next call.
"""

from __future__ import annotations

from collections import OrderedDict

# Bytes of evaluated prefix states kept for reuse: ~6 MB per judge rubric on SmolLM2.
PREFIX_STATE_BUDGET = 256 * 2**20


class PrefixStates:
    """Evaluated shared-prefix KV states by prefix tokens, the least recently used dropped past a byte budget.

    A state loads into any context over the same model, so the engine keeps one store across the decoding
    contexts it grows.
    """

    def __init__(self, budget: int = PREFIX_STATE_BUDGET) -> None:
        self._budget = budget
        self._states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()

    def get(self, prefix: tuple[int, ...]) -> bytes | None:
        state = self._states.get(prefix)
        if state is not None:
            self._states.move_to_end(prefix)
        return state

    def worth_keeping(self, size: int) -> bool:
        return size <= self._budget

    def put(self, prefix: tuple[int, ...], state: bytes) -> None:
        self._states[prefix] = state
        while sum(len(kept) for kept in self._states.values()) > self._budget:
            self._states.popitem(last=False)
