"""Loading YAML that may come from anyone: every YAML yolops reads goes through :func:`load`.

``yaml.safe_load`` builds no arbitrary objects, but it still expands aliases: a few
hundred bytes of nested anchors (a "billion laughs") stand for billions of nodes,
which a later ``str()``, copy or walk over the value turns into gigabytes. This loader
counts the nodes the document stands for, aliases expanded, and refuses one over
:data:`MAX_NODES` (or with an alias inside its own anchor, a loop) before any value
is built. Ordinary anchors (a shared block of settings) load as before.

Errors are :class:`yaml.YAMLError` subclasses, so the callers' existing handling
reports them with the file's name.
"""

from __future__ import annotations

import yaml

# A data YAML with 10 000 class names and a sweep over dozens of values stay far below.
MAX_NODES = 1_000_000


class YamlTooLarge(yaml.YAMLError):
    """A document whose aliases expand past :data:`MAX_NODES` nodes, or loop."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


class _Loader(yaml.SafeLoader):
    """SafeLoader that checks the expanded size of the composed document."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_size(node)
        return node


def _check_size(root: yaml.Node) -> None:
    # Expanded size = 1 + sizes of the children, counting a shared (aliased) node at
    # each place it appears; memoised per node, so the walk is linear in the graph.
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_NODES:
                raise YamlTooLarge(
                    f"the document stands for more than {MAX_NODES} values once its aliases "
                    "are expanded (nested anchors, a 'billion laughs'); refused"
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlTooLarge("an alias refers to the anchor it is inside (a loop); refused")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise YamlTooLarge("an alias refers to the anchor it is inside (a loop); refused")
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load(text: str | bytes):
    """``yaml.safe_load``, refusing documents whose aliases expand past :data:`MAX_NODES`."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
