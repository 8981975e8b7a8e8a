"""The partition date real-model tests sample under. Seeds derive from (model, date, sample index), so
`MAGPIE_TEST_NIGHT=2026-11-03 pytest -m slow` reruns them on another seed set: what they assert must hold for
any sample the model can produce."""

from __future__ import annotations

import datetime as dt
import os


def real_model_night(default: str) -> dt.date:
    return dt.date.fromisoformat(os.environ.get("MAGPIE_TEST_NIGHT") or default)


def seed_offset() -> int:
    """Shifts the fixed seeds of engine tests by the same choice: 0 unless MAGPIE_TEST_NIGHT is set."""
    return (real_model_night("2026-11-01") - dt.date(2026, 11, 1)).days * 1000
