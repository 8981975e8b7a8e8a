"""The local Dagster instance the CLI records its runs in: $DAGSTER_HOME, default `data/dagster_home`.

A folder without a `dagster.yaml` gets one, so Dagster does not warn about it on every start: SQLite storage
under the folder (Dagster's default) and no telemetry (the default engine runs offline).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DAGSTER_HOME = Path("data") / "dagster_home"
LOCAL_INSTANCE = """\
# Written by magpie-dagster for its local runs (`magpie-dagster run`, `magpie-dagster ui`): SQLite storage in
# this folder. The production instance is deploy/dagster.yaml.
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    """$DAGSTER_HOME (set to the default when unset), created with its `dagster.yaml` if missing."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME.resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE)
    return home
