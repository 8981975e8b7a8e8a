"""The README and `docs/` are promises: the front page stays short and links every page, every link resolves, every
SQL query runs on a real warehouse through the DuckDB shell the set-up installs, and every command (in a shell block
or a code span) names a program and options that exist. A command of a program this project does not own (docker,
kubectl, ...) must be listed in EXTERNAL, so nothing new goes unchecked by accident."""

from __future__ import annotations

import datetime as dt
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib

from magpie_dagster.cli.main import build_parser
from magpie_dagster_tests.backends import file_backend
from magpie_dagster_tests.fakes import FakeEngineResource
from magpie_dagster_tests.projects import Project

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
# Shell words and programs this project does not own: listed, so a new kind of command is a decision, not a gap.
EXTERNAL = {"for", "done", "break", "export", "pip", "docker", "kubectl", "dagster", "dagster-daemon", "curl", "vllm"}
SHELL_BLOCK = re.compile(r"```(?:bash|sh)\n(.*?)```", re.S)
COMMAND_SPAN = re.compile(r"`((?:\.venv/bin/|scripts/|magpie-dagster )[^`]*)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 8, batch_size: 4}
judging:
  judge: {engine: llama_cpp, model: judge.gguf}
"""


def commands() -> list[tuple[str, list[str]]]:
    """(page, argv) of every simple command: shell blocks split on newlines outside quotes, `&&`, `||` and `;`
    (comments and leading VAR=value dropped), and code spans that start like a command."""
    found = []
    for page in PAGES:
        text = page.read_text()
        lines = [line for block in SHELL_BLOCK.findall(text) for line in _logical_lines(block)]
        lines += COMMAND_SPAN.findall(text)
        for line in lines:
            tokens = shlex.split(line, comments=True)
            command: list[str] = []
            for token in [*tokens, "&&"]:
                if token in ("&&", "||", ";"):
                    while command and re.fullmatch(r"[A-Z_]+=.*", command[0]):
                        command.pop(0)
                    if command:
                        found.append((page.name, command))
                    command = []
                else:
                    command.append(token.rstrip(";"))
    return found


def _logical_lines(block: str) -> list[str]:
    lines, current = [], ""
    for line in block.splitlines():
        current += line.removesuffix("\\") + "\n"
        if current.count('"') % 2 == 0 and not line.endswith("\\"):
            lines.append(current)
            current = ""
    return [line for line in lines if line.strip()]


def test_the_front_page_is_short_and_links_every_page():
    assert len(README.read_text().splitlines()) <= 250
    linked = set(LINK.findall(README.read_text()))
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in linked, f"the README's table of contents misses docs/{page.name}"


def test_every_link_resolves_to_a_file_and_a_heading():
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name}: link to {target} (no such file)"
            if anchor:
                assert anchor in _anchors(file), f"{page.name}: link to {target} (no such heading in {file.name})"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lowercase, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_command_names_a_program_and_options_that_exist():
    parser = build_parser()
    markers = {line.split(":")[0] for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
               ["ini_options"]["markers"]}
    checked = set()
    for page, (program, *arguments) in commands():
        where = f"{page}: {shlex.join([program, *arguments])}"
        name = program.removeprefix(".venv/bin/")
        if name == "magpie-dagster" and len(arguments) <= 1:  # a command named in prose: `magpie-dagster plan`
            assert not arguments or arguments[0] in _subcommands(parser), f"{where}: no such command"
        elif name == "magpie-dagster":
            try:
                parser.parse_args(arguments)
            except SystemExit:
                pytest.fail(f"{where}: the command line does not parse")
        elif name == "pytest":
            if "-m" in arguments:
                expression = arguments[arguments.index("-m") + 1]
                assert set(re.findall(r"\w+", expression)) - {"and", "or", "not"} <= markers, where
        elif name == "duckdb":
            assert not arguments or arguments[:2] == ["-readonly", "data/magpie.read.duckdb"], f"{where}: the copy"
        elif name in ("python", "python3") and arguments and arguments[0].startswith("bench/"):
            _options_exist(ROOT / arguments[0], arguments[1:], where, run_help=True)
        elif program.startswith("scripts/"):
            _options_exist(ROOT / program, arguments, where, run_help=False)
        else:
            assert name in EXTERNAL, f"{where}: a program the docs test does not know; check it here or list it"
        checked.add(name)
    assert {"magpie-dagster", "duckdb", "pytest", "python", "bootstrap"} <= {Path(name).name for name in checked}


def _subcommands(parser) -> set[str]:
    [commands] = [action for action in parser._actions if action.dest == "command"]
    return set(commands.choices)


def _options_exist(script: Path, arguments: list[str], where: str, run_help: bool) -> None:
    assert script.exists(), f"{where}: no such file"
    options = [argument.split("=")[0] for argument in arguments if argument.startswith("--")]
    if not options:
        return
    text = script.read_text()
    if run_help:
        text = subprocess.run(
            [sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
        ).stdout
    for option in options:
        assert option in text, f"{where}: {script.name} has no option {option}"


@pytest.fixture(scope="module")
def night_warehouse(tmp_path_factory) -> Path:
    """A project directory whose data/ holds a night's warehouse and its read copy (fake engine, every stage)."""
    root = tmp_path_factory.mktemp("docs_night")
    (root / "catalogue.yaml").write_text(textwrap.dedent(CATALOGUE))
    project = Project(root / "catalogue.yaml", file_backend(root), NIGHT)
    engines = FakeEngineResource()
    assert project.materialise("alpha", engines).success
    assert project.curate(engines).success
    return root


def test_every_sql_query_in_the_docs_runs_in_the_duckdb_shell(night_warehouse):
    shell = Path(sys.executable).parent / "duckdb"
    assert shell.exists(), "the set-up installs the duckdb shell (duckdb-cli) beside Python"
    queries = [
        (page, arguments)
        for page, (program, *arguments) in commands()
        if program.endswith("duckdb") and "-c" in arguments
    ]
    assert len(queries) >= 8
    for page, arguments in queries:
        done = subprocess.run(
            [str(shell), *arguments], cwd=night_warehouse, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and not done.stderr, f"{page}: {arguments[-1]}\n{done.stderr}"
        assert "│" in done.stdout, f"{page}: {arguments[-1]} printed no table"
