"""Exports are written beside the published ones and swapped in by rename, so a reader (or a failed night)
never sees a half-written or emptied directory."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path


def night_directory(exports_root: Path, night: dt.date) -> Path:
    """Where a night's exports are published: `<exports root>/<date>/`."""
    return Path(exports_root) / night.isoformat()


def staging_directory(target: Path, run_id: str) -> Path:
    """An empty directory beside `target` for this run's files."""
    staging = target.with_name(f".{target.name}.partial-{run_id}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, target: Path) -> None:
    """Replaces `target` with `staging`: two renames on one filesystem, the old directory removed after."""
    retired = target.with_name(f".{target.name}.retired")
    shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
