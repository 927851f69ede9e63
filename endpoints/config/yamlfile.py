"""Loading librechat.yaml safely, reading it as LibreChat does.

PyYAML's SafeLoader builds the node tree; we turn it into Python ourselves so
that every value keeps its path (``endpoints.custom[2].baseURL``), its line
number and the text it was written as.  That lets validation say *where* a
problem is and notice surprises (``3.10`` read as the number ``3.1``).
Duplicate keys, huge files, alias bombs and recursive anchors are errors rather
than silent behaviour; ``<<`` merge keys work as in LibreChat (the mapping's own
keys win over the merged ones).

Plain scalars are resolved by YAML 1.2's core schema, as js-yaml (LibreChat's
reader) does, not by PyYAML's YAML 1.1 rules: ``on``/``yes``/``off``/``no`` are
text, ``0777`` is 777, ``1e3`` is a number, ``0o17`` is octal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_NODES = 200_000
MAX_ALIASES = 100

_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
#: Words YAML 1.1 tools (PyYAML, older editors) read as booleans but LibreChat reads as text.
YAML11_BOOLEANS = frozenset(
    w for word in ("yes", "no", "on", "off", "y", "n") for w in (word, word.capitalize(), word.upper())
)


class _Loader(yaml.SafeLoader):
    """SafeLoader with js-yaml's (YAML 1.2 core) resolution of plain scalars."""

    yaml_implicit_resolvers: dict[Any, Any] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml12_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        for prefix, base in (("0o", 8), ("0x", 16), ("0b", 2)):
            if text.startswith(prefix):
                return sign * int(text[2:], base)
        return sign * int(text, 10)

    def construct_yaml12_float(self, node: yaml.ScalarNode) -> float | int:
        text = str(self.construct_scalar(node)).replace("_", "").lower()
        if text.endswith(".inf"):
            return float("-inf") if text.startswith("-") else float("inf")
        if text.endswith(".nan"):
            return float("nan")
        number = float(text)
        return number

    def construct_yaml12_bool(self, node: yaml.ScalarNode) -> bool:
        return str(self.construct_scalar(node)).lower() == "true"


_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
_Loader.add_constructor("tag:yaml.org,2002:bool", _Loader.construct_yaml12_bool)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml12_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml12_float)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that also quotes text YAML 1.2 readers would take for something else."""


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", _BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789.")),
):
    _Dumper.add_implicit_resolver(_tag, _regexp, _first)


def dump(data: Any) -> str:
    """YAML text that PyYAML and js-yaml both read back as ``data``."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


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
        #: Inside a value copied by a ``<<`` merge key: its nodes repeat the anchor's, which is the
        #: point of merge keys, so they count as values (MAX_NODES) but not as alias references.
        self.merging = 0

    def convert(self, node: yaml.Node, path: str) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError([Problem(path, f"the file has more than {MAX_NODES} values; refusing to expand it")])
        key = id(node)
        if key in self.stack:
            raise ConfigError([Problem(path, "a YAML anchor refers to itself (recursive alias)", _line(node))])
        if key in self.seen and not self.merging:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise ConfigError(
                    [Problem(path, f"more than {MAX_ALIASES} alias references; refusing to expand them", _line(node))]
                )
        self.seen[key] = self.seen.get(key, 0) + 1
        self.where.lines.setdefault(path, _line(node) or 0)
        if isinstance(node, yaml.ScalarNode):
            if node.style is None:  # what a plain scalar was written as (a quoted one is text anyway)
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
        written = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        self.loader.flatten_mapping(node)  # resolves << merge keys: merged pairs first, then the written ones
        merged = len(node.value) - written
        result: dict[str, Any] = {}
        from_merge: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError([Problem(path, "mapping keys must be plain strings", _line(key_node))])
            key = self.loader.construct_object(key_node)
            if not isinstance(key, str):
                key = key_node.value  # e.g. `on:` or `1:` used as a key: keep what was written
            if index < merged:
                from_merge.add(key)  # a later merged map or a written key may override it
            elif key in result and key not in from_merge:
                raise ConfigError([Problem(join(path, key), "duplicate key", _line(key_node))])
            else:
                from_merge.discard(key)
            if key in result:
                # YAML merge keys: what the mapping itself writes wins over `<<: *defaults`.
                self.where.lines.pop(join(path, key), None)
                del result[key]
            # A problem with an entry is reported on the key's line, also when its value
            # is a block that starts on the next line.
            self.where.lines.setdefault(join(path, key), _line(key_node) or 0)
            self.merging += index < merged
            try:
                result[key] = self.convert(value_node, join(path, key))
            finally:
                self.merging -= index < merged
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
        loader = _Loader(text)  # checks for NUL and other control characters
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
