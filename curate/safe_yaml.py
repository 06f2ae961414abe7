"""YAML written by users (pipelines, `--set` values, filter sets), read with bounds: a few lines of
anchors and aliases ("billion laughs") can expand to gigabytes once copied, validated and hashed, so a
document whose aliases expand past MAX_WEIGHT values, or that refers to itself, is refused with its
line, before anything is built from it. Safe YAML only (no Python tags)."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_WEIGHT = 100_000
"""Values a document may hold once its aliases are expanded; a scalar weighs 1 per 100 characters.
Pipelines hold hundreds."""
MAX_BYTES = 16 << 20


class BoundedLoader(yaml.SafeLoader):
    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        check_expansion(node)
        return self.construct_document(node)


def check_expansion(root: Node) -> None:
    """Raise a marked YAML error when `root` expands to more than MAX_WEIGHT, or holds an alias to a
    node that contains it. Each distinct node is weighed once (aliases share nodes), so this is linear."""
    weights: dict[int, int] = {}
    active: set[int] = set()

    def weigh(node: Node) -> int:
        key = id(node)
        if key in weights:
            return weights[key]
        if key in active:
            raise ConstructorError(None, None, "an alias refers to a node that contains it", node.start_mark)
        active.add(key)
        if isinstance(node, MappingNode):
            total = 1 + sum(weigh(k) + weigh(v) for k, v in node.value)
        elif isinstance(node, SequenceNode):
            total = 1 + sum(weigh(item) for item in node.value)
        else:
            total = 1 + (len(node.value) // 100 if isinstance(node, ScalarNode) else 0)
        active.discard(key)
        if total > MAX_WEIGHT:
            raise ConstructorError(None, None, f"aliases expand it past {MAX_WEIGHT:,} values (an alias bomb?)", node.start_mark)
        weights[key] = total
        return total

    weigh(root)


def load(text: str, name: str = "<yaml>") -> Any:
    """Like yaml.safe_load, bounded; raises yaml.YAMLError (marked with the line) when refused."""
    if len(text) > MAX_BYTES:
        raise yaml.YAMLError(f"{name}: longer than {MAX_BYTES >> 20} MB")
    loader = BoundedLoader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


__all__ = ["MAX_WEIGHT", "BoundedLoader", "check_expansion", "load"]
