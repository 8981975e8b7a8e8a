"""Runs one partition of a job the way the CLI does: a Dagster run whose steps each get their own process.

`execute_job` honours the job's multiprocess executor (`execute_in_process` would not), so a step that dies
in native code is recorded as that step's failure and the caller goes on with the next partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from magpie_dagster.defs.plumbing.stage_run import EXIT_CODE
from magpie_dagster.defs.step_crashes import StepCrash, step_crashes

TERMINATION_MESSAGE = "received termination signal"  # the multiprocess executor's engine event


@dataclass(frozen=True)
class PartitionOutcome:
    partition: str
    run_id: str
    success: bool
    failed_steps: dict[str, str]  # step key -> the first line of its error
    crashes: tuple[StepCrash, ...]
    terminated: bool = False  # the run received SIGTERM / SIGINT (or the UI's Terminate) and stopped
    exit_code: int = 0  # what the CLI exits with for this partition: 0, 1 (failed), 2 (the disk or a file)

    def failure_lines(self, uses_llama_cpp: bool) -> list[str]:
        """One line per problem; empty when the run succeeded."""
        if self.success:
            return []
        lines = [crash.describe(self.partition, uses_llama_cpp) for crash in self.crashes]
        crashed = {crash.step_key for crash in self.crashes}
        lines += [
            f"partition {self.partition}: step {step} failed: {cause} (run {self.run_id})"
            for step, cause in self.failed_steps.items()
            if step not in crashed
        ]
        if not lines:
            lines.append(f"partition {self.partition}: the run failed before any step; see run {self.run_id}")
        return lines


def run_partition(
    job: dg.ReconstructableJob,
    instance: dg.DagsterInstance,
    partition_key: str,
    label: str,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
) -> PartitionOutcome:
    """`label` names the partition for people (`smollm2_135m|2026-12-02`); `tags` are added to the run's."""
    tags = {**job.get_definition().partitions_def.get_tags_for_partition_key(partition_key), **(tags or {})}
    with dg.execute_job(job, instance=instance, tags=tags, run_config=run_config) as result:
        return partition_outcome(result, label)


def partition_outcome(result: dg.ExecuteInProcessResult | dg.ExecuteJobResult, label: str) -> PartitionOutcome:
    failures = [event for event in result.get_step_failure_events() if event.step_key]
    codes = [
        int(event.step_failure_data.user_failure_data.metadata[EXIT_CODE].value)
        for event in failures
        if event.step_failure_data.user_failure_data and EXIT_CODE in event.step_failure_data.user_failure_data.metadata
    ]
    return PartitionOutcome(
        partition=label,
        run_id=result.run_id,
        success=result.success,
        failed_steps={event.step_key: failure_cause(event.step_failure_data) for event in failures},
        crashes=tuple(step_crashes(result.all_events)),
        terminated=any(TERMINATION_MESSAGE in (event.message or "") for event in result.all_events),
        exit_code=0 if result.success else max([1, *codes]),
    )


def failure_cause(data) -> str:
    """A `Failure`'s description (ours name the partition and the fix; a template probe's is its whole report),
    else the first line of the innermost error: a step that ran out of retries says only "Exceeded max_retries",
    its cause says why."""
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description.strip()
    error = data.error
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "unknown error"
    line = error.message.strip().splitlines()[0]
    return line.removeprefix(f"{error.cls_name}: ").removeprefix(f"dagster._core.definitions.events.{error.cls_name}: ")
