"""What real-model tests share: the embedded model's catalogue entry, and the partition date they sample under.
Seeds derive from (model, date, sample index), so `MAGPIE_TEST_NIGHT=2026-11-03 pytest -m slow` reruns them on
another seed set: what they assert must hold for any sample the model can produce."""

from __future__ import annotations

import datetime as dt
import os


def real_model_night(default: str) -> dt.date:
    return dt.date.fromisoformat(os.environ.get("MAGPIE_TEST_NIGHT") or default)


def seed_offset() -> int:
    """Shifts the fixed seeds of engine tests by the same choice: 0 unless MAGPIE_TEST_NIGHT is set."""
    return (real_model_night("2026-11-01") - dt.date(2026, 11, 1)).days * 1000


def embedded_model_catalogue(
    *,
    template: str,
    instructions: int,
    batch_size: int,
    instruction_max_tokens: int,
    response_max_tokens: int,
    probe: bool = False,
) -> str:
    """A catalogue with the packaged SmolLM2 as `smollm2_135m`, sampling as the reference does, 2 threads.

    The template probe is off unless asked for: these catalogues cut max_tokens for speed, and a few truncated
    samples out of five would read as a wrong setting (test_template_probe.py tests the probe itself).
    """
    return f"""
start_date: "2026-11-01"
models:
  - key: smollm2_135m
    engine: llama_cpp
    model: packaged:smollm2-135m-instruct
    template: {template}
    instructions_per_batch: {instructions}
    batch_size: {batch_size}
    instruction_sampling: {{temperature: 1.0, top_p: 1.0, max_tokens: {instruction_max_tokens}}}
    response_sampling: {{temperature: 0.7, top_p: 0.9, repetition_penalty: 1.1, max_tokens: {response_max_tokens}}}
    n_ctx: 1024
    n_threads: 2
    probe: {{enabled: {str(probe).lower()}}}
"""
