"""`magpie-dagster ui`: the Dagster UI and daemon (`dagster dev`) on the project's local instance.

The same $DAGSTER_HOME as `magpie-dagster run` (default `data/dagster_home`), so the CLI's runs show there; the
daemon ticks the nightly schedule and the automation sensor, which start running when the project loads (unless
the catalogue says `nightly: false`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from magpie_dagster.cli.instance_home import dagster_home
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.settings import catalogue_path

CODE_LOCATION = "magpie_dagster.definitions"


def add_command(commands: argparse._SubParsersAction) -> None:
    ui = commands.add_parser("ui", help="open the Dagster UI (and its daemon: the nightly refresh) on this project")
    ui.add_argument("--host", default="127.0.0.1", help="the address to serve on (127.0.0.1)")
    ui.add_argument("--port", type=int, default=3000, help="the port to serve on (3000)")


def ui(arguments: argparse.Namespace) -> int:
    """Replaces this process with `dagster dev`: its PID is the UI's, and Ctrl-C stops it as Dagster intends."""
    catalogue = load_catalogue(catalogue_path())  # a broken catalogue fails here, with its file and field
    home = dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    executable = str(dagster) if dagster.exists() else shutil.which("dagster")
    if executable is None:
        raise ValueError("the `dagster` command is not installed here: run scripts/bootstrap first")
    nightly = "running" if catalogue.nightly else "stopped (the catalogue says `nightly: false`)"
    print(
        f"Dagster UI on http://{arguments.host}:{arguments.port} (instance {home}); the nightly refresh is "
        f"{nightly}. Ctrl-C stops it.",
        flush=True,
    )
    command = [executable, "dev", "-m", CODE_LOCATION, "-h", arguments.host, "-p", str(arguments.port)]
    os.execv(executable, command)
    return 0  # not reached: execv does not return
