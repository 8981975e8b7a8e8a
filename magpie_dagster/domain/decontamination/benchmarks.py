"""Reading a benchmark's prompt file (JSONL or Parquet) into its prompts and a fingerprint of them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from magpie_dagster.domain.decontamination.config import BenchmarkFile

FORMATS = {".jsonl": "JSONL", ".ndjson": "JSONL", ".parquet": "Parquet"}


class BenchmarkFileError(ValueError):
    """A benchmark file cannot be used; the message names the benchmark, the file and what to fix."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    path: Path
    prompts: tuple[str, ...]  # in file order; a prompt's index is its position here
    fingerprint: str  # of the field and the prompts: a changed file is a new benchmark to check the corpus against


def load_benchmark(entry: BenchmarkFile, folder: Path) -> Benchmark:
    """`folder`: where a relative path starts (the catalogue's). Empty and null prompts are left out."""
    path = Path(entry.path).expanduser()
    path = path if path.is_absolute() else folder / path
    where = f"benchmark {entry.name!r} ({path})"
    if path.suffix.lower() not in FORMATS:
        raise BenchmarkFileError(f"{where}: unknown format {path.suffix!r}; use a .jsonl or .parquet file")
    if not path.is_file():
        raise BenchmarkFileError(f"{where}: no such file; fix `path` in the catalogue's decontamination section")
    try:
        frame = pl.read_parquet(path) if path.suffix.lower() == ".parquet" else pl.read_ndjson(path)
    except (pl.exceptions.PolarsError, OSError) as error:
        kind = FORMATS[path.suffix.lower()]
        raise BenchmarkFileError(f"{where}: not readable as {kind} ({str(error).splitlines()[0]})") from None
    if entry.field not in frame.columns:
        raise BenchmarkFileError(
            f"{where}: no field {entry.field!r}; its fields: {', '.join(frame.columns) or 'none'}. "
            "Set `field` to the one holding the prompt text"
        )
    if frame.schema[entry.field] != pl.Utf8:
        raise BenchmarkFileError(f"{where}: field {entry.field!r} holds {frame.schema[entry.field]}, not text")
    prompts = tuple(text for text in frame[entry.field].to_list() if text and text.strip())
    if not prompts:
        raise BenchmarkFileError(f"{where}: field {entry.field!r} holds no prompt text")
    digest = hashlib.sha256(entry.field.encode())
    for prompt in prompts:
        digest.update(b"\0" + prompt.encode())
    return Benchmark(entry.name, path, prompts, digest.hexdigest()[:32])
