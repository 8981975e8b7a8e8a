"""Real servers and programs for the tests come from Debian's packages, installed on first use when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable


def installed(package: str, find: Callable[[], str | None]) -> str:
    """What `find` finds; when it finds nothing and this is root on Debian, `package` is installed first."""
    found = find()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], check=True, capture_output=True
        )
        found = find()
    if found is None:
        raise RuntimeError(f"{package} is not installed and cannot be installed here: apt-get install {package}")
    return found
