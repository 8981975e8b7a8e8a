"""YAML that refuses a key repeated in one mapping: PyYAML silently keeps the last one, so `batch_size: 4` then
`batch_size: 2` in one catalogue entry would run with 2 and nobody would know."""

from __future__ import annotations

from typing import Any

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"field {key!r} appears twice in one mapping (first on line {first_line[key] + 1}); keep one",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_unique_keys(text: str) -> Any:
    """`yaml.safe_load`, except that a repeated key is a `yaml.YAMLError` naming the key and both lines."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
