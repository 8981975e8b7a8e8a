"""A test that dies by a signal (a native crash on one machine's CPU) is one red test, and the suite runs on.

The project's pytest settings run the tests in a pytest-xdist worker process; when it dies, xdist reports the
test that was running as failed and starts a new worker for the rest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
CRASHING_TESTS = """
import os
import signal


def test_dies_in_native_code():
    os.kill(os.getpid(), signal.SIGSEGV)


def test_runs_after_the_crash():
    assert sum(range(4)) == 6
"""


def test_a_crashing_test_fails_alone_and_the_rest_run(tmp_path):
    (tmp_path / "test_crashes.py").write_text(textwrap.dedent(CRASHING_TESTS))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(PYPROJECT), "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
         str(tmp_path / "test_crashes.py")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "crashed while running 'test_crashes.py::test_dies_in_native_code'" in result.stdout
