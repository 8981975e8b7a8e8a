"""What `magpie-dagster run` shows while a night runs: a line per partition and stage.

On a terminal each line is a rich progress bar updated in place (rows done / planned, tokens/s, ETA); when the
output is a file or a pipe (CI, cron, `| tee`), plain lines: a stage's start, its progress at most every 30 s, its
end.
"""

from __future__ import annotations

import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from magpie_dagster.defs import progress as stage_progress

PLAIN_EVERY_S = 30.0


def open_view(stream: TextIO, plain: bool = False) -> BarView | PlainView:
    """A bar view when `stream` is a terminal, else (or when `plain`) plain lines."""
    console = Console(file=stream)
    return BarView(console) if console.is_terminal and not plain else PlainView(stream)


class BarView:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[tuple[str, str], int] = {}

    def __enter__(self) -> BarView:
        self.bars.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.bars.stop()

    def say(self, line: str) -> None:
        self.bars.console.print(line, highlight=False, markup=False)

    def step_started(self, partition: str, step: str) -> None:
        self.tasks[(partition, step)] = self.bars.add_task(f"{partition} {step}", total=None, rate="")

    def step_progressed(self, partition: str, step: str, progress: stage_progress.Progress) -> None:
        task = self.tasks.get((partition, step))
        if task is None:
            return
        rate = f"{progress.tokens_per_s:.0f} tok/s" if progress.tokens_per_s is not None else ""
        self.bars.update(
            task,
            description=f"{partition} {step} ({progress.what})",
            completed=progress.done,
            total=max(progress.total, 1),
            rate=rate,
        )

    def step_ended(self, partition: str, step: str, succeeded: bool, seconds: float) -> None:
        task = self.tasks.get((partition, step))
        if task is None:
            return
        outcome = "" if succeeded else " [red]FAILED"
        total = self.bars.tasks[task].total or 1
        self.bars.update(task, description=f"{partition} {step}{outcome}", completed=total, total=total)
        self.bars.stop_task(task)


class PlainView:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last_line: dict[tuple[str, str], float] = {}

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *_exc) -> None:
        pass

    def say(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def step_started(self, partition: str, step: str) -> None:
        self.last_line[(partition, step)] = time.monotonic()
        self.say(f"{partition} {step}: started")

    def step_progressed(self, partition: str, step: str, progress: stage_progress.Progress) -> None:
        now = time.monotonic()
        if now - self.last_line.get((partition, step), 0.0) < PLAIN_EVERY_S and progress.done < progress.total:
            return
        self.last_line[(partition, step)] = now
        rate = f", {progress.tokens_per_s:.0f} tokens/s" if progress.tokens_per_s is not None else ""
        self.say(f"{partition} {step}: {progress.what} {progress.done}/{progress.total}{rate}")

    def step_ended(self, partition: str, step: str, succeeded: bool, seconds: float) -> None:
        self.say(f"{partition} {step}: {'done' if succeeded else 'FAILED'} in {seconds:.1f} s")
