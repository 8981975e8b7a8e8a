"""Driving a night to its row targets: run the models' partitions, curate the night, and again for the models
whose round was closed short of its target (`night_rounds` plans their next round), until none is left.

The CLI drives it with a Dagster run per partition; the `night_rounds_sensor` does the same for scheduled nights.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from magpie_dagster.domain.catalogue import Catalogue
from magpie_dagster.storage import rounds_store
from magpie_dagster.storage.warehouse import Warehouse


def drive_night(
    catalogue: Catalogue,
    warehouse: Warehouse,
    night: dt.date,
    model_keys: Sequence[str],
    run_models: Callable[[list[str], int], bool],
    curate: Callable[[], bool],
    announce: Callable[[str], None] = print,
) -> int:
    """`run_models(keys, pass)` and `curate()` return False when the night must stop (a failure, a signal);
    returns how many passes ran."""
    keys = list(model_keys)
    passes = 0
    while passes < most_rounds(catalogue, model_keys):
        if passes:
            planned = rounds_store.open_rounds(warehouse, night, model_keys)
            if not planned:
                break
            keys = sorted(planned)
            announce("short of their row targets, next: " + ", ".join(f"{key} round {planned[key]}" for key in keys))
        passes += 1
        if not run_models(keys, passes) or not curate():
            break
    return passes


def most_rounds(catalogue: Catalogue, model_keys: Sequence[str]) -> int:
    """Passes a night may take: 1, or the largest `max_rounds` of the models' targets."""
    targets = [catalogue.target_of(key) for key in model_keys]
    return max([1, *(target.max_rounds for target in targets if target)])
