"""The project's one seed scheme: a seed is the hash of the names of what it samples (what for, which model,
night, sample or row, attempt), so a re-run asks for the same samples on any machine and no two purposes share
a seed."""

from __future__ import annotations

import hashlib

MAX_SEED = 2**31 - 1  # llama.cpp, vLLM and OpenAI-compatible servers all take a signed 32-bit seed


def derived_seed(*names: object) -> int:
    digest = hashlib.sha256("/".join(str(name) for name in names).encode()).digest()
    return int.from_bytes(digest[:8], "big") % MAX_SEED
