"""Responses that loop: small models under greedy decoding repeat one phrase or block until max_tokens.

A response loops when some unit of 1-64 words repeats back to back at least 4 times and the repeated stretch covers
at least 24 words. Lists whose items merely share a shape ("1. one", "2. two") and phrases repeated far apart do
not count: only the same words, in the same order, one right after the other.
"""

from __future__ import annotations

MIN_REPEATS = 4
MIN_LOOP_WORDS = 24
MAX_PERIOD_WORDS = 64


def loops(text: str) -> bool:
    words = text.split()
    for period in range(1, min(MAX_PERIOD_WORDS, len(words) // MIN_REPEATS) + 1):
        # `run` matches of words[i] == words[i + period] make a stretch of run + period periodic words
        needed = max((MIN_REPEATS - 1) * period, MIN_LOOP_WORDS - period)
        run = 0
        for index in range(len(words) - period):
            run = run + 1 if words[index] == words[index + period] else 0
            if run >= needed:
                return True
    return False
