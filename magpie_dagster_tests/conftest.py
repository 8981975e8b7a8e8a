"""Shared fixtures. Expensive ones (real servers) are session-scoped so every test file reuses one process."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.backends import Backend, file_backend, lake_backend
from magpie_dagster_tests.cores import pin_xdist_worker
from magpie_dagster_tests.postgres import Postgres, postgres_server
from magpie_dagster_tests.projects import Project
from magpie_dagster_tests.servers import llama_cpp_server as start_llama_cpp_server
from magpie_dagster_tests.servers import vllm_server as start_vllm_server
from magpie_dagster_tests.vllm_cpu import VLLM_TEST_ENVIRONMENT, require_vllm


@pytest.fixture(scope="session")
def llama_cpp_server() -> Iterator[str]:
    """Base URL (`http://127.0.0.1:PORT/v1`) of a real llama.cpp server serving the packaged SmolLM2."""
    with start_llama_cpp_server() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def vllm_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the packaged SmolLM2 converted for vLLM (once per session, ~50 s)."""
    require_vllm()
    from magpie_dagster.engines.packaged_hf import packaged_hf_folder

    models_dir = tmp_path_factory.mktemp("models")
    packaged_hf_folder(models_dir)
    return models_dir


@pytest.fixture(scope="session")
def vllm_environment() -> Iterator[dict[str, str]]:
    """vLLM's CPU build sized for tests (1 GiB of KV cache), set for this process and its children."""
    require_vllm()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in VLLM_TEST_ENVIRONMENT.items():
            patch.setenv(name, value)
        yield VLLM_TEST_ENVIRONMENT


@pytest.fixture(scope="session")
def vllm_server(vllm_models_dir: Path, vllm_environment: dict[str, str]) -> Iterator[str]:
    """Base URL of a real `vllm serve` (the CPU build) of the packaged SmolLM2 on a loopback port."""
    from magpie_dagster.engines.packaged_hf import packaged_hf_folder

    with start_vllm_server(packaged_hf_folder(vllm_models_dir)) as base_url:
        yield base_url


def pytest_configure(config: pytest.Config) -> None:
    pin_xdist_worker()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start PostgreSQL (the DuckLake backend, the production instance) are marked `postgres`, so the
    fast lane (`-m "not slow and not postgres"`) leaves them out without each test saying so."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_lake = callspec is not None and callspec.params.get("new_backend") == "lake"
        if on_lake or "postgres" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL on a loopback port for the whole session; tests create their own databases in it."""
    with postgres_server("magpie") as server:
        yield server


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    """An empty DuckDB file with the warehouse's schema."""
    store = Warehouse(tmp_path / "magpie.duckdb")
    store.ensure_schema()
    return store


@pytest.fixture(params=["file", "lake"])
def new_backend(request: pytest.FixtureRequest) -> Callable[[Path], Backend]:
    """Makes empty warehouses (under a root directory) of the backend a test runs on: each test that asks runs
    once on the DuckDB file, once on a DuckLake."""
    if request.param == "file":
        return file_backend
    server = request.getfixturevalue("postgres")
    return lambda root: lake_backend(root, server)


@pytest.fixture
def backend(new_backend: Callable[[Path], Backend], tmp_path: Path) -> Backend:
    return new_backend(tmp_path)


@pytest.fixture
def project(backend: Backend, tmp_path: Path, request: pytest.FixtureRequest) -> Project:
    """The test module's CATALOGUE in a file, on each backend, at the module's NIGHT."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(request.module.CATALOGUE))
    return Project(catalogue, backend, request.module.NIGHT)
