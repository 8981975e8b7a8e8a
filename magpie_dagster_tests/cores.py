"""Each pytest-xdist worker runs on cores of its own, so two workers can both run a model.

llama.cpp's threads busy-wait at every step: two workers decoding on the same cores slow each other about tenfold.
Pinned to disjoint cores (`os.sched_setaffinity`, inherited by every process a test starts), each worker's
engines size their threads to its share (`engines.llama_cpp_cpu.thread_count`; vLLM's CPU build binds to the
affinity it is given). With more workers than cores, workers share a core whole: an engine on one thread has no
peer to wait for, so two of them on a core take turns instead of spinning, and one worker's model runs while
another waits on a server or a subprocess. A worker takes the first share whose lock no live worker holds, so a
worker started to replace a crashed one takes the share the crashed one left.
"""

from __future__ import annotations

import fcntl
import os
import tempfile

_held: list[int] = []  # open for the worker's lifetime: the kernel drops the lock when the process ends


def pin_xdist_worker() -> list[int] | None:
    """Pins this worker to its share of the cores (more workers than cores share them round-robin); None outside
    xdist or with one worker."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if workers < 2 or run is None or not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    per_worker = max(1, len(cores) // workers)
    for share in range(workers):
        lock = os.open(
            os.path.join(tempfile.gettempdir(), f"magpie-tests-{run}-cores-{share}.lock"), os.O_CREAT | os.O_RDWR
        )
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        _held.append(lock)
        first = share * per_worker % len(cores)
        mine = cores[first : first + per_worker]
        os.sched_setaffinity(0, mine)
        return mine
    return None
