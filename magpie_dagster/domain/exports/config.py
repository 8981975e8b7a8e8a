"""`exports` in the catalogue: what the night's files hold."""

from __future__ import annotations

from typing import Literal

from magpie_dagster.domain.config_model import Strict


class ExportSettings(Strict):
    """`reasoning`: what the files hold of a reasoning model's thinking: `omit` (the answers only), `inline` (the
    first answer as `<think>...</think>` then the answer, as reasoning SFT sets are written) or `field` (a
    separate `reasoning` field beside the conversation)."""

    reasoning: Literal["omit", "inline", "field"] = "omit"
