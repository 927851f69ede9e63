"""Loading librechat.yaml safely.

PyYAML's SafeLoader builds the node tree; we turn it into Python ourselves so
that every value keeps its path (``endpoints.custom[2].baseURL``), its line
number and the text it was written as.  That lets validation say *where* a
problem is and notice YAML 1.1 surprises (``on`` read as ``true``, ``3.10`` as
``3.1``).  Duplicate keys, huge files, alias bombs and recursive anchors are
errors rather than silent behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_NODES = 200_000
MAX_ALIASES = 100


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(top level)"
        at = f" (line {self.line})" if self.line else ""
        return f"{where}: {self.message}{at}"


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists every reason with its path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(slots=True)
class Located:
    """Where each value came from: path -> (line, original scalar text)."""

    lines: dict[str, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    def line(self, path: str) -> int | None:
        return self.lines.get(path)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Converter:
    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.where = Located()
        self.nodes = 0
        self.aliases = 0
        self.seen: dict[int, int] = {}
        self.stack: set[int] = set()

    def convert(self, node: yaml.Node, path: str) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError([Problem(path, f"the file has more than {MAX_NODES} values; refusing to expand it")])
        key = id(node)
        if key in self.stack:
            raise ConfigError([Problem(path, "a YAML anchor refers to itself (recursive alias)", _line(node))])
        if key in self.seen:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise ConfigError(
                    [Problem(path, f"more than {MAX_ALIASES} alias references; refusing to expand them", _line(node))]
                )
        self.seen[key] = self.seen.get(key, 0) + 1
        self.where.lines.setdefault(path, _line(node) or 0)
        if isinstance(node, yaml.ScalarNode):
            self.where.raw[path] = node.value
            return self.loader.construct_object(node, deep=True)
        if node.tag not in _PLAIN_TAGS.get(type(node), ()):
            # SafeLoader refuses unknown tags on scalars; do the same for lists and mappings
            # (``!!python/object:…`` on a mapping would otherwise be silently dropped).
            raise ConfigError([Problem(path, f"unsupported YAML tag {node.tag}", _line(node))])
        self.stack.add(key)
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(item, join(path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self.stack.discard(key)
        raise ConfigError([Problem(path, f"unsupported YAML node {node.tag}", _line(node))])

    def _mapping(self, node: yaml.MappingNode, path: str) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves << merge keys
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError([Problem(path, "mapping keys must be plain strings", _line(key_node))])
            key = self.loader.construct_object(key_node)
            if not isinstance(key, str):
                key = key_node.value  # e.g. `on:` or `1:` used as a key: keep what was written
            if key in result:
                raise ConfigError([Problem(join(path, key), "duplicate key", _line(key_node))])
            # A problem with an entry is reported on the key's line, also when its value
            # is a block that starts on the next line.
            self.where.lines.setdefault(join(path, key), _line(key_node) or 0)
            result[key] = self.convert(value_node, join(path, key))
        return result


_PLAIN_TAGS: dict[type, tuple[str, ...]] = {
    yaml.SequenceNode: ("tag:yaml.org,2002:seq",),
    yaml.MappingNode: ("tag:yaml.org,2002:map",),
}


def _line(node: yaml.Node) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def load_text(text: str | bytes) -> tuple[Any, Located]:
    """Parse YAML text into plain data plus where each value came from."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_BYTES:
        raise ConfigError([Problem("", f"the file is {size} bytes; the limit is {MAX_BYTES}")])
    try:
        loader = yaml.SafeLoader(text)  # checks for NUL and other control characters
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"not valid YAML: {exc}")]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Located()
        converter = _Converter(loader)
        return converter.convert(node, ""), converter.where
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError([Problem("", f"not valid YAML: {exc.problem or exc}", line)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise ConfigError([Problem("", "the file is nested too deeply")]) from None
    finally:
        loader.dispose()


def load_file(path: str) -> tuple[Any, Located]:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {path}: {exc.strerror}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([Problem("", f"{path} is not UTF-8 text")]) from None
    return load_text(text)
