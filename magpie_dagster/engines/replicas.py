"""Replicas of one served model (several `vllm serve` processes, one per GPU): requests go to the least busy
healthy replica, at most `per_replica` at a time each; a replica that cannot answer is taken out for a while and
its requests go to the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import openai

DEFAULT_COOLDOWN_S = 30.0
T = TypeVar("T")


class ReplicaFault(Exception):
    """Raised by an attempt: this replica cannot answer (the message says why); the call moves to another."""


class NoReplicaLeft(Exception):
    """Every replica was tried or is taken out; the message names each and why it was taken out."""


@dataclass
class Replica:
    url: str
    client: openai.OpenAI | None = None  # an engine's own client for this server, if it keeps one
    in_flight: int = 0
    down_until: float = 0.0
    last_fault: str = ""  # why it was last taken out
    served: int = 0  # requests answered, for metadata and tests


class ReplicaSet:
    def __init__(self, replicas: Sequence[Replica], per_replica: int, cooldown_s: float = DEFAULT_COOLDOWN_S) -> None:
        self.replicas = list(replicas)
        self._per_replica = per_replica
        self._cooldown_s = cooldown_s
        self._changed = threading.Condition()

    def call(self, attempt: Callable[[Replica], T]) -> T:
        """`attempt(replica)` on the least busy healthy replica; one whose attempt raises `ReplicaFault` is taken out
        for a while and the call moves to the next, until one answers or `NoReplicaLeft` is raised."""
        tried: set[str] = set()
        while True:
            with self.slot(excluded=tried) as replica:
                if replica is None:
                    raise NoReplicaLeft(self.faults())
                try:
                    result = attempt(replica)
                except ReplicaFault as fault:
                    reason = str(fault)
                else:
                    with self._changed:
                        replica.served += 1
                    return result
            tried.add(replica.url)
            self.take_out(replica, reason)

    @contextmanager
    def slot(self, excluded: set[str]) -> Iterator[Replica | None]:
        """The least busy healthy replica not in `excluded`, waiting while all of them are full; None when no
        replica is left to try (all excluded or taken out)."""
        with self._changed:
            while True:
                now = time.monotonic()
                usable = [r for r in self.replicas if r.url not in excluded and r.down_until <= now]
                if not usable:
                    chosen = None
                    break
                free = [r for r in usable if r.in_flight < self._per_replica]
                if free:
                    chosen = min(free, key=lambda replica: replica.in_flight)
                    chosen.in_flight += 1
                    break
                self._changed.wait(timeout=0.5)
        try:
            yield chosen
        finally:
            if chosen is not None:
                with self._changed:
                    chosen.in_flight -= 1
                    self._changed.notify_all()

    def take_out(self, replica: Replica, fault: str) -> None:
        with self._changed:
            replica.down_until = time.monotonic() + self._cooldown_s
            replica.last_fault = fault
            self._changed.notify_all()

    def faults(self) -> str:
        """Every replica and why it was last taken out, for the error when none can answer."""
        return "; ".join(f"{replica.url}: {replica.last_fault or 'busy'}" for replica in self.replicas)

    def close(self) -> None:
        for replica in self.replicas:
            if replica.client is not None:
                replica.client.close()


def is_replica_fault(error: openai.APIError) -> bool:
    """The replica, not the request, is at fault: no connection, a timeout, overloaded (429) or a 5xx."""
    return isinstance(error, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError))
