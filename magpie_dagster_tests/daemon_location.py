"""The code location the real-daemon test loads: the project's definitions, found the way `dagster` finds them
(MAGPIE_CATALOGUE, MAGPIE_WAREHOUSE), with the fake engine at a quarter second per request."""

from __future__ import annotations

import dagster as dg

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.settings import catalogue_path, warehouse_location, warehouse_options
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource


@dg.definitions
def defs() -> dg.Definitions:
    engines = FakeEngineResource(script="slow")
    return build_definitions(
        catalogue_path(), warehouse_location(), engines, FakeEmbedderResource(), **warehouse_options()
    )
