"""Where the catalogue and the warehouse live, overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CATALOGUE = Path(__file__).with_name("catalogue.yaml")
DEFAULT_WAREHOUSE = Path("data") / "magpie.duckdb"


def catalogue_path() -> Path:
    return Path(os.environ.get("MAGPIE_CATALOGUE") or DEFAULT_CATALOGUE)


def warehouse_path() -> Path:
    return Path(os.environ.get("MAGPIE_WAREHOUSE") or DEFAULT_WAREHOUSE)
