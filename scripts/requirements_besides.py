"""Prints this project's requirements (its dependencies, plus the extras named) except the packages named, one per
line, for `pip install -r`: scripts/bootstrap installs them while llama-cpp-python compiles.

    python scripts/requirements_besides.py --extras dev --except llama-cpp-python
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pip carries the same parser
    from pip._vendor import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def requirements(extras: list[str], left_out: set[str]) -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    wanted, todo, seen = list(project["dependencies"]), list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            itself = re.fullmatch(rf"{project['name']}\[(.+)\]", requirement)
            if itself:  # magpie-dagster[lake,k8s]: this project's own extras
                todo.extend(name.strip() for name in itself.group(1).split(","))
            else:
                wanted.append(requirement)
    return [requirement for requirement in wanted if _name(requirement) not in left_out]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", nargs="*", default=[])
    parser.add_argument("--except", dest="left_out", nargs="*", default=[])
    arguments = parser.parse_args()
    print("\n".join(requirements(arguments.extras, {name.lower() for name in arguments.left_out})))
