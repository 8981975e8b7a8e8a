"""What a stage does with an engine's stream of finished rows: groups them into the batches it commits, and
commits those on a thread of their own, so the engine decodes the next rows while a batch is written."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

_DONE = object()
Item = TypeVar("Item")


def in_batches(finished: Iterable[Item], batch_size: int) -> Iterator[list[Item]]:
    """`batch_size` items at a time as they arrive, the rest at the end."""
    batch: list[Item] = []
    for item in finished:
        batch.append(item)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


class BatchWriter:
    """`store` runs on each batch in order, on a writer thread. At most `depth` batches wait: a producer faster than
    the warehouse waits for it rather than holding the partition in memory. A failed store stops the writer; the
    producer hears of it at its next `put` or at `close`. On leaving the `with` block every batch already handed
    over is stored, whatever ended the block, so a failing engine loses none of the rows that finished."""

    def __init__(self, store: Callable[[Any], None], depth: int = 2) -> None:
        self._store = store
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="batch-writer", daemon=True)
        self._thread.start()

    def put(self, batch: Any) -> None:
        self._raise_if_failed()
        self._queue.put(batch)

    def close(self) -> None:
        """Waits until every batch handed over is stored; raises the error of a failed store."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        self._raise_if_failed()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the block's own error is the one raised
            self.close()

    def _work(self) -> None:
        while (batch := self._queue.get()) is not _DONE:
            if self._error is not None:
                continue  # drain, so a waiting producer is not blocked forever
            try:
                self._store(batch)
            except BaseException as error:  # noqa: BLE001 handed to the producer
                self._error = error

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
