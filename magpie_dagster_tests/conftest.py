"""Shared fixtures. Expensive ones (real servers) are session-scoped so every test file reuses one process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magpie_dagster_tests.servers import llama_cpp_server as start_llama_cpp_server


@pytest.fixture(scope="session")
def llama_cpp_server() -> Iterator[str]:
    """Base URL (`http://127.0.0.1:PORT/v1`) of a real llama.cpp server serving the packaged SmolLM2."""
    with start_llama_cpp_server() as base_url:
        yield base_url
