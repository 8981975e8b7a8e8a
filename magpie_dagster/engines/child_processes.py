"""Ending the child processes a library started and left behind (vLLM's engine core and workers)."""

from __future__ import annotations

import psutil


def pids_of_children() -> set[int]:
    """Every live descendant of this process, taken before a library starts its own."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def end_new_children(before: set[int], grace_s: float) -> list[int]:
    """SIGTERM the descendants that were not there `before`, SIGKILL those still alive after `grace_s`.

    Returns the pids that had to be ended (empty when the library had already stopped its processes).
    """
    leftovers = [
        child for child in psutil.Process().children(recursive=True) if child.pid not in before and not _is_ours(child)
    ]
    for child in leftovers:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(leftovers, timeout=grace_s)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=grace_s)
    return [child.pid for child in leftovers]


def _is_ours(child: psutil.Process) -> bool:
    """Python's own multiprocessing resource tracker serves this process for its whole life: leave it be."""
    try:
        return any("multiprocessing.resource_tracker" in part for part in child.cmdline())
    except psutil.Error:
        return False
