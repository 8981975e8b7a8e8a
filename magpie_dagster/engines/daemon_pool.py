"""A thread pool whose threads never hold the process open.

`ThreadPoolExecutor` threads are joined when the process exits, so a request blocked on a stalled server would
keep a terminated step alive until its timeout. These are daemon threads: a terminated run abandons its requests
in flight and its process ends at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, as_completed
from contextlib import contextmanager
from typing import Any


class DaemonThreadPool:
    def __init__(self, workers: int, name: str) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True) for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., Any], *arguments: Any) -> Future:
        future: Future = Future()
        self._queue.put((future, function, arguments))
        return future

    def map_all(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """`function` over `items`, the pool's workers at a time, results in order; on the first failure (or an
        interrupt) the rest are cancelled and those in flight abandoned."""
        futures = [self.submit(function, item) for item in items]
        with _cancelled_on_failure(futures):
            return [future.result() for future in futures]

    def map_as_completed(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """(position, result) of `function` over `items` as each finishes; failures as in `map_all`."""
        futures = {self.submit(function, item): index for index, item in enumerate(items)}
        with _cancelled_on_failure(futures):
            for future in as_completed(futures):
                yield futures[future], future.result()

    def shutdown(self) -> None:
        """Idle threads end; a thread busy with an abandoned request ends when it returns (or with the process)."""
        for _ in self._threads:
            self._queue.put(None)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, function, arguments = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*arguments))
            except BaseException as error:  # noqa: BLE001 handed to the caller through the future
                future.set_exception(error)


@contextmanager
def _cancelled_on_failure(futures: Iterable[Future]) -> Iterator[None]:
    """On the first failure (or an interrupt, or a reader that stops early) the futures not started are cancelled
    and those in flight abandoned."""
    try:
        yield
    except BaseException:
        for future in futures:
            future.cancel()
        raise
