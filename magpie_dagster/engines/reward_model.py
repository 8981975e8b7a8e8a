"""Reward scores of (instruction, response) pairs from a reward model served by vLLM's pooling API.

`vllm serve <reward-model>` (e.g. Skywork-Reward, ArmoRM, internlm2-reward) exposes POST /pooling, which takes
the conversation as chat messages and returns the model's pooled output. A reward model's score is its last
pooled value (one scalar for sequence-classification heads; the final token's value for per-token heads).
The LLM-as-judge alternative is the `reward` tag in `domain/tagging/tags.py`, judged like any other tag. Like
an `openai` entry, the reward model may be served by several replicas (`base_url: [...]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from magpie_dagster.domain.completion import EngineError
from magpie_dagster.domain.redact import redact
from magpie_dagster.engines.daemon_pool import DaemonThreadPool
from magpie_dagster.engines.replicas import NoReplicaLeft, Replica, ReplicaFault, ReplicaSet


@dataclass(frozen=True)
class RewardScore:
    conversation_id: str
    score: float | None
    error: str | None


class RewardModelClient:
    """A small HTTP client; the API key (if any) is passed in, read from the environment by the caller."""

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_concurrency: int = 8,
        max_retries: int = 3,
    ) -> None:
        self.model = model
        urls = (base_url,) if isinstance(base_url, str) else tuple(base_url)
        self._replicas = ReplicaSet([Replica(_pooling_url(url)) for url in urls], per_replica=max_concurrency)
        self._session = requests.Session()
        self._secrets = (api_key,)
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"
        # With replicas a failing server is left after one retry: the request moves to another replica instead.
        retry = Retry(
            total=max_retries if len(urls) == 1 else min(max_retries, 1),
            backoff_factor=0.5,
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=None,
        )
        pool_size = max_concurrency * len(urls)
        self._session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=pool_size))
        self._session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=pool_size))
        self._timeout_s = timeout_s
        self._pool = DaemonThreadPool(pool_size, f"reward-{model}")

    def score(self, items: Sequence[tuple[str, str, str]]) -> list[RewardScore]:
        """`items` are (conversation_id, instruction, response); one score per item, in order."""
        return self._pool.map_all(self._score_one, items)

    def _score_one(self, item: tuple[str, str, str]) -> RewardScore:
        """Scored on the least busy healthy replica; one that cannot answer (no connection, 5xx) is taken out for
        a while and the item moves on; when none is left the step fails naming each replica."""
        try:
            return self._replicas.call(lambda replica: self._score_on(replica, item))
        except NoReplicaLeft as none_left:
            faults = str(none_left)
        raise EngineError(
            f"None of the {len(self._replicas.replicas)} replicas of the reward model {self.model!r} could answer: "
            + faults
        )

    def _score_on(self, replica: Replica, item: tuple[str, str, str]) -> RewardScore:
        reply, fault = self._post(replica.url, item)
        if fault is None:
            return self._scored(item[0], reply)
        if len(self._replicas.replicas) == 1:
            raise EngineError(fault)
        raise ReplicaFault(fault)

    def _post(self, url: str, item: tuple[str, str, str]) -> tuple[requests.Response | None, str | None]:
        """The server's reply, or why this replica could not give one."""
        _, instruction, response = item
        messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
        try:
            reply = self._session.post(url, json={"model": self.model, "messages": messages}, timeout=self._timeout_s)
        except requests.RequestException as error:
            return None, (
                f"Cannot reach the reward model {self.model!r} at {url}: {redact(str(error), self._secrets)}. Start "
                "it with `vllm serve <model>` or fix `reward.base_url` in the catalogue."
            )
        if reply.status_code >= 500 or reply.status_code in (401, 403, 404):
            return None, f"The reward model server at {url} answered HTTP {reply.status_code}: {self._body(reply)}"
        return reply, None

    def _scored(self, conversation_id: str, reply: requests.Response) -> RewardScore:
        if reply.status_code != 200:
            return RewardScore(conversation_id, None, f"HTTP {reply.status_code}: {self._body(reply)}")
        try:
            return RewardScore(conversation_id, last_pooled_value(reply.json()["data"][0]["data"]), None)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            return RewardScore(conversation_id, None, f"unexpected pooling response: {error!r}")

    def _body(self, reply: requests.Response) -> str:
        """The first 200 characters of what came back, secrets removed first (a server may echo the request)."""
        return redact(reply.text, self._secrets)[:200]

    def close(self) -> None:
        self._pool.shutdown()
        self._session.close()


def _pooling_url(base_url: str) -> str:
    return base_url.rstrip("/").removesuffix("/v1") + "/pooling"


def last_pooled_value(data: object) -> float:
    while isinstance(data, list):
        if not data:
            raise ValueError("empty pooled output")
        data = data[-1]
    return float(data)  # type: ignore[arg-type]
