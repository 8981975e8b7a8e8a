"""Long word n-gram overlap between instructions and benchmark prompts.

Words are NFKC-normalised, case-folded runs of letters and digits. A prompt matches an instruction that shares `n`
words in a row with it (or the whole prompt, when it is shorter than `n` but has at least `min_n` words). The index
holds each prompt's `min_n`-word windows once, so an instruction costs one lookup per word; a seed that hits is
extended both ways to the full shared run.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class Overlap:
    prompt_index: int
    shared: str  # the words the instruction and the prompt share in a row


class NgramIndex:
    def __init__(self, prompts: Sequence[str], n: int, min_n: int) -> None:
        self._n, self._min_n = n, min_n
        self._prompts = [words(prompt) for prompt in prompts]
        self._seeds: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        for index, tokens in enumerate(self._prompts):
            if len(tokens) < min_n:
                continue  # too short to say anything by words: exact text and embeddings still check it
            for start in range(len(tokens) - min_n + 1):
                self._seeds.setdefault(tuple(tokens[start : start + min_n]), []).append((index, start))

    def first_overlap(self, text: str) -> Overlap | None:
        tokens = words(text)
        for position in range(len(tokens) - self._min_n + 1):
            for index, start in self._seeds.get(tuple(tokens[position : position + self._min_n]), ()):
                overlap = self._extend(tokens, position, index, start)
                if overlap is not None:
                    return overlap
        return None

    def _extend(self, tokens: list[str], position: int, index: int, start: int) -> Overlap | None:
        prompt = self._prompts[index]
        before = 0
        while before < min(position, start) and tokens[position - before - 1] == prompt[start - before - 1]:
            before += 1
        after = self._min_n
        while position + after < len(tokens) and start + after < len(prompt) and (
            tokens[position + after] == prompt[start + after]
        ):
            after += 1
        if before + after < min(self._n, len(prompt)):
            return None
        return Overlap(index, " ".join(tokens[position - before : position + after]))
