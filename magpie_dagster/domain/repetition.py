"""Text that loops: small models under greedy decoding repeat one phrase or block until max_tokens.

A response loops when some unit of 1-64 words repeats back to back at least 4 times and the repeated stretch covers
at least 24 words. Lists whose items merely share a shape ("1. one", "2. two") and phrases repeated far apart do
not count: only the same words, in the same order, one right after the other.

An instruction is short, and its loops are often inside a word ("example.com.com.com.com.com.com.com"): it loops
when it loops as a response does, or when a unit of 2-32 characters repeats back to back at least 6 times over at
least 24 characters, the unit holding two letters or digits, one of them a letter. Numbers a user gives ("1, 1, 1,
1, 1, 1", "101010...") have no letter to a unit, one character repeated ("0xFFFF...") is no unit, and a word said
twice ("very very") is far from six.
"""

from __future__ import annotations

import re

MIN_REPEATS = 4
MIN_LOOP_WORDS = 24
MAX_PERIOD_WORDS = 64
MIN_CHARACTER_REPEATS = 6
MIN_CHARACTER_LOOP = 24
_REPEATED_UNIT = re.compile(rf"(.{{2,32}}?)\1{{{MIN_CHARACTER_REPEATS - 1},}}", re.DOTALL)


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


def instruction_loops(text: str) -> bool:
    if loops(text):
        return True
    for match in _REPEATED_UNIT.finditer(text):
        unit = match[1]
        if (
            len(match[0]) >= MIN_CHARACTER_LOOP
            and sum(character.isalnum() for character in unit) >= 2
            and any(character.isalpha() for character in unit)
            and len(set(unit)) >= 2  # "FFFFFFFF" is a number, "aaaaaaaa" a scream: neither is a repeated unit
        ):
            return True
    return False
