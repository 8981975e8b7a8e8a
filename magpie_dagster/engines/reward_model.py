"""Reward scores of (instruction, response) pairs from a reward model served by vLLM's pooling API.

`vllm serve <reward-model>` (e.g. Skywork-Reward, ArmoRM, internlm2-reward) exposes POST /pooling, which takes
the conversation as chat messages and returns the model's pooled output. A reward model's score is its last
pooled value (one scalar for sequence-classification heads; the final token's value for per-token heads).
The LLM-as-judge alternative is the `reward` tag in `tags.py`, judged like any other tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from magpie_dagster.domain.completion import EngineError
from magpie_dagster.domain.redact import redact


@dataclass(frozen=True)
class RewardScore:
    conversation_id: str
    score: float | None
    error: str | None


class RewardModelClient:
    """A small HTTP client; the API key (if any) is passed in, read from the environment by the caller."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_concurrency: int = 8,
        max_retries: int = 3,
    ) -> None:
        self.model = model
        self._url = base_url.rstrip("/").removesuffix("/v1") + "/pooling"
        self._session = requests.Session()
        self._secrets = (api_key,)
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"
        retry = Retry(
            total=max_retries, backoff_factor=0.5, status_forcelist=(429, 502, 503, 504), allowed_methods=None
        )
        self._session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=max_concurrency))
        self._session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=max_concurrency))
        self._timeout_s = timeout_s
        self._max_concurrency = max_concurrency

    def score(self, items: Sequence[tuple[str, str, str]]) -> list[RewardScore]:
        """`items` are (conversation_id, instruction, response); one score per item, in order."""
        with ThreadPoolExecutor(max_workers=self._max_concurrency) as pool:
            return list(pool.map(self._score_one, items))

    def _score_one(self, item: tuple[str, str, str]) -> RewardScore:
        conversation_id, instruction, response = item
        messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
        try:
            reply = self._session.post(
                self._url, json={"model": self.model, "messages": messages}, timeout=self._timeout_s
            )
        except requests.RequestException as error:
            raise EngineError(
                f"Cannot reach the reward model {self.model!r} at {self._url}: {error}. Start it with "
                "`vllm serve <model>` or fix `reward.base_url` in the catalogue."
            ) from error
        if reply.status_code >= 500 or reply.status_code in (401, 403, 404):
            raise EngineError(
                f"The reward model server at {self._url} answered HTTP {reply.status_code}: {self._body(reply)}"
            )
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
        self._session.close()


def last_pooled_value(data: object) -> float:
    while isinstance(data, list):
        if not data:
            raise ValueError("empty pooled output")
        data = data[-1]
    return float(data)  # type: ignore[arg-type]
