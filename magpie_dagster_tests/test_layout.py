"""The house's shape, read from the code: imports run one way down the layers with no circle, every stage is at
its address in every layer, and asset names are spelt only in the stage list."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.domain import stages
from magpie_dagster.settings import DEFAULT_CATALOGUE

PACKAGE = Path(__file__).resolve().parents[1] / "magpie_dagster"
# A layer may import only the layers after it in this order.
LAYERS = ("cli", "defs", "storage", "engines", "domain")
ALLOWED = {
    "cli": {"defs", "storage", "engines", "domain", "settings"},
    "defs": {"storage", "engines", "domain", "settings"},
    "storage": {"domain", "settings"},
    "engines": {"domain", "settings"},
    "domain": set(),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Every magpie_dagster module `path` imports, at any depth of the file (local imports count)."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("magpie_dagster"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                imported.add(candidate if _is_module(candidate) else node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names if alias.name.startswith("magpie_dagster"))
    return imported


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


GRAPH = {module_name(path): project_imports(path) for path in PACKAGE.rglob("*.py")}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_circle():
    circles = []
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(GRAPH.get(module, ())):
            if state.get(imported) == "open":
                circles.append(trail[trail.index(imported) :] + [imported] if imported in trail else [module, imported])
            elif imported not in state:
                visit(imported, [*trail, imported])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_imports_run_down_the_layers():
    upward = [
        f"{module} -> {imported}"
        for module, imports in GRAPH.items()
        if layer(module) in ALLOWED
        for imported in imports
        if layer(imported) != layer(module) and layer(imported) not in ALLOWED[layer(module)]
    ]
    assert upward == []


def test_stage_domains_sit_below_the_catalogue():
    """`domain/catalogue.py` aggregates every stage's settings; no stage's domain reads it back."""
    readers = [module for module, imports in GRAPH.items() if "magpie_dagster.domain.catalogue" in imports]
    assert [module for module in readers if module.startswith("magpie_dagster.domain.")] == []


@pytest.mark.parametrize("stage", [stage for stage in stages.STAGES if stage != stages.COSTS])
def test_every_stage_has_its_address_in_every_layer(stage):
    assert (PACKAGE / "domain" / stage).is_dir()
    assert (PACKAGE / "defs" / "assets" / f"{stage}.py").exists()
    assert stage == stages.EXPORTS or (PACKAGE / "storage" / f"{stage}_store.py").exists()
    settings = (PACKAGE / "domain" / stage / "config.py").read_text()
    assert "(Strict)" in settings


def test_asset_names_are_spelt_only_in_the_stage_list():
    """Outside `domain/stages.py` an asset's name is a constant from there (a dict key such as a row's
    `responses` field is not an asset name)."""
    names = {asset.name for asset in stages.ASSETS}
    spelt = []
    for path in [*(PACKAGE / "defs").rglob("*.py"), *(PACKAGE / "cli").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        keys = {id(node.slice) for node in ast.walk(tree) if isinstance(node, ast.Subscript)}
        spelt += [
            f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in keys
        ]
    assert spelt == []


def test_the_asset_graph_is_the_stage_list(tmp_path):
    graph = build_definitions(DEFAULT_CATALOGUE, tmp_path / "w.duckdb").resolve_asset_graph()
    built = {
        key.to_user_string(): (
            sorted(parent.to_user_string() for parent in graph.get(key).parent_keys),
            graph.get(key).group_name,
        )
        for key in graph.get_all_asset_keys()
    }
    assert built == {asset.name: (sorted(asset.reads), asset.group) for asset in stages.ASSETS}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_modules_are_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= (200 if path.parent.name == "assets" else 300)
