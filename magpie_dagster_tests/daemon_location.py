"""The code location the real-daemon tests load: the project's definitions, found the way `dagster` finds them
(MAGPIE_CATALOGUE, MAGPIE_WAREHOUSE), with the fake engine at a quarter second per request; each engine opened
is logged to MAGPIE_OPEN_LOG when it is set."""

from __future__ import annotations

import os

import dagster as dg

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.settings import catalogue_path, warehouse_location, warehouse_options
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource


@dg.definitions
def defs() -> dg.Definitions:
    engines = FakeEngineResource(script="slow", open_log=os.environ.get("MAGPIE_OPEN_LOG"))
    return build_definitions(
        catalogue_path(), warehouse_location(), engines, FakeEmbedderResource(), **warehouse_options()
    )
