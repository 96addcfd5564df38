"""YAML from users, read within bounds: study files, controller configs and ``--set`` values.

PyYAML's safe loader builds whatever it is given. A kilobyte of aliases can name billions of
nodes (each alias stands for the whole node it refers to, so every consumer that walks the
result walks them all), deep nesting exhausts the recursion limit, and an integer of thousands
of digits is refused by Python itself. Here a document may be at most :data:`MAX_BYTES` long,
:data:`MAX_DEPTH` levels deep and :data:`MAX_NODES` nodes once its aliases are expanded (counted
on the composed nodes, before anything is built), and integers must fit in 64 bits. Anything
beyond, or anything that is not YAML, is a one-line :class:`ConfigError`.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from hbopt.errors import ConfigError

MAX_BYTES = 1 << 20
MAX_DEPTH = 50
MAX_NODES = 100_000
_INT_RANGE = (-2**63, 2**63)


class _Refused(Exception):
    """A document beyond a bound."""


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_DEPTH:
            raise _Refused(f"it is nested more than {MAX_DEPTH} levels deep")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node

    def construct_yaml_int(self, node):
        if len(node.value) > 40:
            raise _Refused(f"the integer {node.value[:20]}... does not fit in 64 bits")
        value = super().construct_yaml_int(node)
        if not _INT_RANGE[0] <= value < _INT_RANGE[1]:
            raise _Refused(f"the integer {node.value} does not fit in 64 bits")
        return value


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expanded_size(root) -> None:
    """Count the nodes ``root`` stands for with every alias expanded (an alias is the very node
    it names, so shared nodes are counted once each time they are reached, computed once each)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                raise _Refused(f"its aliases expand to more than {MAX_NODES:,} nodes")
        elif key not in sizes:
            if key in active:
                raise _Refused("an alias refers to a node that contains it")
            active.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def load(text: str, what: str):
    """The value of the YAML document ``text``; ``what`` names it in errors."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{what} is larger than hbopt reads ({MAX_BYTES // 1024} KiB)")
    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except _Refused as exc:
        raise ConfigError(f"{what} is beyond what hbopt reads: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{what} is not valid YAML: {exc.problem or exc.context}{where}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{what} is not valid YAML: {first}") from None


def read_mapping(path: Path, what: str) -> dict:
    """A YAML file holding a mapping (``what`` names it in errors), or a :class:`ConfigError`."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path.name} is larger than hbopt reads ({MAX_BYTES // 1024} KiB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name} is not a text file (it is not UTF-8)") from None
    value = load(text, path.name)
    if not isinstance(value, dict):
        raise ConfigError(f"{path.name} does not hold {what} (a YAML mapping)")
    return value
