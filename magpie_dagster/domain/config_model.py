"""The pydantic base of every catalogue section: unknown fields are refused (a typo is an error, not a silent
default) and values are frozen (settings are hashable and cannot change under a running stage)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
