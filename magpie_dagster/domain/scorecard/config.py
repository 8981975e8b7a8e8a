"""`scorecard` in the catalogue: how far each trended number may move from its trailing median before the night's
drift check warns."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.scorecard.metrics import TRENDED
from magpie_dagster.domain.tagging.config import JudgeEntry

_PERCENT = re.compile(r"^\d+(\.\d+)?%$")

# Absolute bands for shares and bits; percentages of the median for numbers that scale with the night's size.
DEFAULT_BANDS: dict[str, float | str] = {
    "usable_rate": 0.15,
    "template_leak_rate": 0.1,
    "looping_rate": 0.1,
    "truncation_rate": 0.15,
    "near_duplicate_rate": 0.15,
    "corpus_duplicate_rate": 0.2,
    "curated_rows": "50%",
    "diversity_vendi": "30%",
    "category_entropy": 0.75,
    "category_mix_distance": 0.15,
    "contamination_rate": 0.05,
    "judge_failure_rate": 0.1,
    "safety_flag_rate": 0.1,
    "chosen_longer_share": 0.25,
    "response_chars_median": "50%",
}


class SecondJudge(Strict):
    """A second judge (any engine) re-judges `sample` of each night's usable rows with the first judge's tags; the
    scorecard stores their agreement and Cohen's kappa per tag, and the check warns under `min_kappa` (0.2: "slight"
    agreement at most, on Landis and Koch's scale)."""

    judge: JudgeEntry
    sample: int = Field(50, ge=2, le=100_000)
    min_kappa: float = Field(0.2, ge=-1.0, le=1.0)


class ScorecardSettings(Strict):
    """`bands`: metric -> how far tonight's totals may sit from the median of the last `trailing_nights` nights
    (a number: absolute, e.g. 0.15 of a rate; "30%": relative to the median; null: not checked). They merge over
    `DEFAULT_BANDS`. The check waits for `min_nights` earlier nights before it judges anything."""

    trailing_nights: int = Field(7, ge=1, le=90)
    min_nights: int = Field(3, ge=1, le=90)
    bands: dict[str, float | str | None] = {}
    second_judge: SecondJudge | None = None

    @field_validator("bands")
    @classmethod
    def _known_metrics_and_bands(cls, bands: dict[str, float | str | None]) -> dict[str, float | str | None]:
        for metric, band in bands.items():
            if metric not in TRENDED:
                raise ValueError(f"unknown scorecard metric {metric!r}; use one of: {', '.join(TRENDED)}")
            if isinstance(band, str) and not _PERCENT.match(band):
                raise ValueError(f"band of {metric!r} is {band!r}: give a number (absolute) or a percentage like '30%'")
            if isinstance(band, float | int) and band < 0:
                raise ValueError(f"band of {metric!r} is {band}: a band is a distance, 0 or more")
        return bands

    def effective_bands(self) -> dict[str, float | str]:
        merged = {**DEFAULT_BANDS, **self.bands}
        return {metric: band for metric, band in merged.items() if band is not None}
