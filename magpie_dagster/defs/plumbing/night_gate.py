"""Whether a night may be built: every catalogue model's partition finished every stage, in order.

The nightly stages read the warehouse's stage ledger (`stage_leases`), which every per-model stage writes when
it finishes or fails, whichever Dagster instance or machine ran it. A night is blocked by a partition whose
stage never finished, is running, failed in its last run, or finished before the stage it reads was redone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from magpie_dagster.domain.generation.sampling_plan import partition_label
from magpie_dagster.domain.stages import PER_MODEL_ASSETS, stage_asset
from magpie_dagster.storage.leases import FAILED, FINISHED, RUNNING, StageState


def night_partitions(model_keys: Sequence[str], night: dt.date) -> list[str]:
    return [partition_label(model_key, night) for model_key in model_keys]


def blocking_partitions(
    model_keys: Sequence[str], night: dt.date, states: Mapping[tuple[str, str], StageState]
) -> list[str]:
    """One line per reason the night cannot be built; empty when every partition is finished and current."""
    reasons = []
    for label in night_partitions(model_keys, night):
        for stage in PER_MODEL_ASSETS:
            upstream = stage_asset(stage).reads  # a stage is current when it finished after what it reads
            state = states.get((stage, label))
            reason = _not_done(state) if state is None or state.status != FINISHED else None
            if reason is None:
                redone = [
                    name
                    for name in upstream
                    if (before := states.get((name, label))) is not None
                    and before.finished_at is not None
                    and before.finished_at > state.finished_at
                ]
                if redone:
                    reason = f"finished before {', '.join(redone)} was redone; materialise it again"
            if reason:
                reasons.append(f"{label} {stage}: {reason}")
    return reasons


def _not_done(state: StageState | None) -> str:
    if state is None:
        return "never materialised"
    when = f"{state.started_at:%Y-%m-%d %H:%M} UTC"
    if state.status == RUNNING:
        return f"still running (run {state.run_id}, started {when})"
    if state.status == FAILED:
        return f"failed in run {state.run_id} (started {when}): {state.detail or 'see the run'}"
    return f"{state.status} (run {state.run_id})"
