"""What a stored row was generated from, hashed, so a re-run keeps the rows whose inputs are unchanged.

A generated row's fingerprint covers everything that decides its text: the engine, the served model, the
exact prompt, the sampling settings and the seed. A re-run generates only the samples whose fingerprint
differs from the stored one; because seeds derive from (model, night, sample index), a resumed partition
holds the rows an uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

# Bumped when the meaning of a fingerprint changes (what goes in, or how a row is generated from it).
FINGERPRINT_VERSION = 1


def fingerprint(*parts: object) -> str:
    text = json.dumps([FINGERPRINT_VERSION, *parts], sort_keys=True, ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)
