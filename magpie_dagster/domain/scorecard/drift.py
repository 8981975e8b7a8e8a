"""The drift check: tonight's totals against the median of the nights before, each within its band."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Drift:
    metric: str
    tonight: float
    median: float
    band: float | str
    allowed: float  # the band in the metric's units

    def describe(self) -> str:
        return (
            f"{self.metric} {self.tonight:.4g} is {abs(self.tonight - self.median):.4g} from its trailing median "
            f"{self.median:.4g} (band {self.band})"
        )


def allowed_distance(band: float | str, median: float) -> float:
    """A number is absolute; "30%" is that share of the median's size."""
    if isinstance(band, str):
        return abs(median) * float(band.rstrip("%")) / 100
    return float(band)


def drifts(
    tonight: Mapping[str, float | None],
    earlier: Sequence[Mapping[str, float | None]],
    bands: Mapping[str, float | str],
    min_nights: int,
) -> list[Drift]:
    """Metrics whose value tonight lies outside its band around the median of the earlier nights that have one.
    A metric with fewer than `min_nights` earlier values (or none tonight) is not judged."""
    found = []
    for metric, band in bands.items():
        value = tonight.get(metric)
        history = [night[metric] for night in earlier if night.get(metric) is not None]
        if value is None or len(history) < min_nights:
            continue
        median = statistics.median(history)
        allowed = allowed_distance(band, median)
        if abs(value - median) > allowed + 1e-9:
            found.append(Drift(metric, value, median, band, allowed))
    return found
