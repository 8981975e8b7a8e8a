"""The code location Dagster loads (`workspace.yaml`, `[tool.dagster]`).

The catalogue is read when Dagster loads the code location, not at import: `MAGPIE_CATALOGUE` names the
file (default: the packaged `catalogue.yaml`) and `MAGPIE_WAREHOUSE` the warehouse (default:
`data/magpie.duckdb` under the working directory; see `settings.py` for a DuckLake).
"""

from __future__ import annotations

import dagster as dg

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.settings import catalogue_path, warehouse_location, warehouse_options


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(catalogue_path(), warehouse_location(), **warehouse_options())
