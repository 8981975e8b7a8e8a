"""Follows one Dagster run from the CLI's process while `execute_job` runs it.

The steps run in their own processes and write to the instance's event log; a thread here reads that log every
half second, appends each entry to the night's log file, and tells the view which step started, how far it got
(the progress lines of `defs/progress.py`) and how it ended.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from typing import Protocol, TextIO

import dagster as dg

from magpie_dagster.defs.progress import Progress, parse_progress

WATCH_TAG = "magpie/cli_watch"  # a tag only this CLI invocation's run carries, so the thread finds its run
_POLL_S = 0.5


class StepView(Protocol):
    def step_started(self, partition: str, step: str) -> None: ...
    def step_progressed(self, partition: str, step: str, progress: Progress) -> None: ...
    def step_ended(self, partition: str, step: str, succeeded: bool, seconds: float) -> None: ...


class RunWatch:
    """`with RunWatch(...) as watch: execute_job(..., tags={**tags, **watch.tags})`."""

    def __init__(self, instance: dg.DagsterInstance, partition: str, view: StepView, log: TextIO) -> None:
        self.instance = instance
        self.partition = partition
        self.view = view
        self.log = log
        self.tags = {WATCH_TAG: uuid.uuid4().hex}
        self.step_seconds: dict[str, float] = {}
        self._run_id: str | None = None
        self._cursor: str | None = None
        self._started: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"watch {partition}", daemon=True)

    def __enter__(self) -> RunWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _follow(self) -> None:
        while not self._stop.wait(_POLL_S):
            self._read()
        self._read()  # what the run wrote after the last poll

    def _read(self) -> None:
        if self._run_id is None:
            runs = self.instance.get_runs(filters=dg.RunsFilter(tags=self.tags), limit=1)
            if not runs:
                return
            self._run_id = runs[0].run_id
        while True:
            page = self.instance.get_records_for_run(self._run_id, cursor=self._cursor, limit=500)
            for record in page.records:
                self._take(record.event_log_entry)
            self._cursor = page.cursor
            if not page.has_more:
                return

    def _take(self, entry) -> None:
        message = entry.message
        step = entry.step_key
        stamp = dt.datetime.fromtimestamp(entry.timestamp).isoformat(sep=" ", timespec="seconds")
        self.log.write(f"{stamp} {logging.getLevelName(entry.level)} {entry.run_id[:8]} {step or '-'} {message}\n")
        self.log.flush()
        if step is None:
            return
        event = entry.dagster_event
        if event is None:
            progress = parse_progress(entry.user_message)
            if progress is not None:
                self.view.step_progressed(self.partition, step, progress)
        elif event.event_type == dg.DagsterEventType.STEP_START:
            self._started[step] = entry.timestamp
            self.view.step_started(self.partition, step)
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            seconds = entry.timestamp - self._started.get(step, entry.timestamp)
            self.step_seconds[step] = seconds
            self.view.step_ended(self.partition, step, event.event_type == dg.DagsterEventType.STEP_SUCCESS, seconds)
