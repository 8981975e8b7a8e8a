"""Bad catalogue and warehouse files: `magpie-dagster run` ends with one line naming the file and the fix, exit
code 2, no traceback, and the file's bytes unchanged. A full disk leaves the warehouse readable with its rows."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from magpie_dagster.storage.schema import SCHEMA_VERSION
from magpie_dagster.storage.warehouse import Warehouse

CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: tiny, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2,
     instructions_per_batch: 2}
"""


def latin1_catalogue(folder: Path) -> Path:
    path = folder / "catalogue.yaml"
    path.write_bytes(CATALOGUE.replace("tiny", "caf\xe9").encode("latin-1"))
    return path


def directory_catalogue(folder: Path) -> Path:
    (folder / "catalogue.yaml").mkdir()
    return folder / "catalogue.yaml"


def repeated_field_catalogue(folder: Path) -> Path:
    path = folder / "catalogue.yaml"
    path.write_text(
        'start_date: "2026-11-01"\nmodels:\n  - key: tiny\n    engine: llama_cpp\n'
        "    model: packaged:smollm2-135m-instruct\n    batch_size: 4\n    batch_size: 2\n"
    )
    return path


def directory_warehouse(folder: Path) -> Path:
    (folder / "magpie.duckdb").mkdir()
    return folder / "magpie.duckdb"


def text_warehouse(folder: Path) -> Path:
    path = folder / "magpie.duckdb"
    path.write_text("model,instruction\nm,How do tides work?\n")
    return path


def foreign_warehouse(folder: Path) -> Path:
    path = folder / "magpie.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE sales AS SELECT range AS id FROM range(10)")
    return path


def _our_warehouse(folder: Path) -> Path:
    warehouse = Warehouse(folder / "magpie.duckdb")
    warehouse.ensure_schema()
    return warehouse.path


def truncated_warehouse(folder: Path) -> Path:
    path = _our_warehouse(folder)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    return path


def corrupted_warehouse(folder: Path) -> Path:
    path = _our_warehouse(folder)
    data = bytearray(path.read_bytes())
    data[4096:12288] = os.urandom(8192)  # both database headers
    path.write_bytes(bytes(data))
    return path


def newer_warehouse(folder: Path) -> Path:
    path = _our_warehouse(folder)
    with duckdb.connect(str(path)) as connection:
        connection.execute("UPDATE magpie_warehouse SET schema_version = 99")
    return path


def good_catalogue(folder: Path) -> Path:
    path = folder / "catalogue.yaml"
    path.write_text(textwrap.dedent(CATALOGUE))
    return path


def new_warehouse(folder: Path) -> Path:
    return folder / "data" / "magpie.duckdb"


CASES: dict[str, tuple[Callable[[Path], Path], Callable[[Path], Path], str]] = {
    "catalogue not UTF-8": (latin1_catalogue, new_warehouse, "not UTF-8 text (byte"),
    "catalogue is a directory": (directory_catalogue, new_warehouse, "is a directory: point MAGPIE_CATALOGUE"),
    "catalogue repeats a field": (repeated_field_catalogue, new_warehouse, "field 'batch_size' appears twice"),
    "warehouse is a directory": (good_catalogue, directory_warehouse, "is a directory: set MAGPIE_WAREHOUSE"),
    "warehouse is a text file": (good_catalogue, text_warehouse, "it was left as it is"),
    "warehouse is someone else's": (good_catalogue, foreign_warehouse, "did not create (it holds sales)"),
    "warehouse is truncated": (good_catalogue, truncated_warehouse, "it was left as it is"),
    "warehouse is corrupted": (good_catalogue, corrupted_warehouse, "it was left as it is"),
    "warehouse is newer": (good_catalogue, newer_warehouse, "schema version 99, newer than"),
}


def fingerprint(path: Path) -> str:
    if path.is_dir():
        return "dir:" + ",".join(sorted(child.name for child in path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_one_line_exit_2_and_left_untouched(case, tmp_path):
    make_catalogue, make_warehouse, expected = CASES[case]
    catalogue, warehouse = make_catalogue(tmp_path), make_warehouse(tmp_path)
    bad_file = warehouse if make_catalogue is good_catalogue else catalogue
    before = fingerprint(bad_file)
    environment = {
        **os.environ,
        "MAGPIE_CATALOGUE": str(catalogue),
        "MAGPIE_WAREHOUSE": str(warehouse),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "magpie_dagster", "run", "--date", "2026-11-20"],
        capture_output=True, text=True, env=environment, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(bad_file) in lines[0] and expected in lines[0]
    assert fingerprint(bad_file) == before
    assert not (tmp_path / "dagster_home").exists(), "nothing ran"


def test_an_older_warehouse_without_the_marker_is_adopted(tmp_path):
    warehouse = Warehouse(tmp_path / "magpie.duckdb")
    warehouse.ensure_schema()
    with warehouse.connect() as connection:
        connection.execute("DROP TABLE magpie_warehouse")  # as written before the marker existed
    warehouse.check()
    warehouse.ensure_schema()
    with warehouse.connect(read_only=True) as connection:
        assert connection.execute("SELECT schema_version FROM magpie_warehouse").fetchall() == [(SCHEMA_VERSION,)]


FILL_THE_DISK = """
import os, resource, signal, sys
from magpie_dagster.storage.errors import WarehouseError
from magpie_dagster.storage.warehouse import Warehouse
path = sys.argv[1]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
limit = os.path.getsize(path) + 64 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    with Warehouse(path).connect() as connection:
        connection.execute("CREATE TABLE big AS SELECT repeat('x', 1000) || range AS t FROM range(200000)")
except WarehouseError as error:
    print(error)
    sys.exit(3)
"""


def test_a_full_disk_fails_the_write_and_keeps_the_warehouse_readable(tmp_path):
    warehouse = Warehouse(tmp_path / "magpie.duckdb")
    warehouse.ensure_schema()
    with warehouse.connect() as connection:
        connection.execute("CREATE TABLE keep AS SELECT range AS id FROM range(100)")
    result = subprocess.run(
        [sys.executable, "-c", FILL_THE_DISK, str(warehouse.path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3, result.stderr
    assert f"Writing the warehouse {warehouse.path} failed" in result.stdout and "disk is full" in result.stdout
    with warehouse.connect(read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM keep").fetchone()[0] == 100
        assert connection.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'big'").fetchone()[
            0
        ] == 0
