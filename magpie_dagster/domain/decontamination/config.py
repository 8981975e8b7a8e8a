"""`decontamination` in the catalogue: the benchmark prompt files every usable instruction is checked against, and
how close counts as a leak."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from magpie_dagster.domain.config_model import Strict

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class BenchmarkFile(Strict):
    """A file of benchmark prompts: JSONL (one object per line) or Parquet, the prompt in `field`. A relative
    `path` is read from the catalogue's folder."""

    name: str
    path: str = Field(min_length=1)
    field: str = Field("prompt", min_length=1)

    @field_validator("name")
    @classmethod
    def _name_is_an_identifier(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"{name!r}: use letters, digits, '_', '.', '-' (e.g. 'alpaca_eval'), at most 63")
        return name


class DecontaminationSettings(Strict):
    """`ngram`: words an instruction must share in a row with a prompt (13, the common practice since GPT-3);
    a prompt shorter than that matches on its whole length when it has at least `min_ngram` words (shorter ones only
    by exact text or embedding). `max_distance`: squared L2 between unit embeddings (the dedup embedder's) under which
    an instruction is a paraphrase of a prompt; 0.3 is cosine 0.85 (docs/decontamination.md); null turns it off."""

    benchmarks: tuple[BenchmarkFile, ...] = ()
    ngram: int = Field(13, ge=3, le=64)
    min_ngram: int = Field(8, ge=1, le=64)
    max_distance: float | None = Field(0.3, gt=0.0, le=4.0)

    @model_validator(mode="after")
    def _consistent(self) -> DecontaminationSettings:
        names = [benchmark.name for benchmark in self.benchmarks]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"benchmark names must be unique; repeated: {', '.join(repeated)}")
        if self.min_ngram > self.ngram:
            raise ValueError(f"min_ngram {self.min_ngram} is above ngram {self.ngram}")
        return self

    def check_key(self, fingerprint: str, embedder: str) -> str:
        """What a stored check was made with: a new file, n-gram length or distance re-checks the corpus once."""
        distance = "off" if self.max_distance is None else f"{self.max_distance:g}@{embedder}"
        return f"{fingerprint}|ngram={self.ngram}/{self.min_ngram}|embedding={distance}"
