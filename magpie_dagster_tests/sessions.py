"""The processes a CLI run started: it runs in a session of its own (`start_new_session=True`), so every step
process, forkserver and engine worker it leaves behind is found by its session id, whatever its command line."""

from __future__ import annotations

import os
import time

import psutil
import pytest


def session_processes(session: int) -> list[psutil.Process]:
    """Every live process of the session a run started in (its steps, vLLM's engine cores and workers)."""
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def wait_until_session_ends(session: int, timeout_s: float) -> None:
    """Fails naming what is still alive when a process of the session outlives `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while left := session_processes(session):
        if time.monotonic() > deadline:
            described = []
            for process in left:
                try:
                    described.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
                except psutil.Error:
                    continue
            pytest.fail(f"{len(left)} process(es) of the run still alive {timeout_s} s after it ended: {described}")
        time.sleep(0.2)
