"""Where the catalogue, the warehouse and the exports live, overridable by environment variables.

MAGPIE_WAREHOUSE   a DuckDB file (default data/magpie.duckdb), or `ducklake:postgres:<conninfo>` for a DuckLake
MAGPIE_LAKE_DATA_PATH   where a new lake puts its Parquet files (a directory or object storage)
MAGPIE_EXPORTS     the exports root (default: exports/ beside the file; data/exports for a lake)
MAGPIE_MODELS      where models converted for engines that need another format live (default data/models)
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CATALOGUE = Path(__file__).with_name("catalogue.yaml")
DEFAULT_WAREHOUSE = Path("data") / "magpie.duckdb"
DEFAULT_MODELS = Path("data") / "models"


def catalogue_path() -> Path:
    return Path(os.environ.get("MAGPIE_CATALOGUE") or DEFAULT_CATALOGUE)


def warehouse_location() -> str:
    return os.environ.get("MAGPIE_WAREHOUSE") or str(DEFAULT_WAREHOUSE)


def warehouse_options() -> dict[str, str | None]:
    """The keyword arguments a `Warehouse` (and `build_definitions`) takes beside its location."""
    return {
        "lake_data_path": os.environ.get("MAGPIE_LAKE_DATA_PATH") or None,
        "exports_path": os.environ.get("MAGPIE_EXPORTS") or None,
    }


def models_dir() -> Path:
    """Where the packaged model converted for vLLM is kept (a Hugging Face folder, made once)."""
    return Path(os.environ.get("MAGPIE_MODELS") or DEFAULT_MODELS)
