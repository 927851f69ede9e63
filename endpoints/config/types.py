"""A small copy of zod, the schema language LibreChat's configSchema is written in: a
:class:`Type` per key, and :func:`check`, which reports (once per path, with its line) every
value LibreChat would refuse.  As in zod, a key written without a value (``iconURL:``) is
refused, unknown keys of an object are dropped (we warn about them) unless it is ``strict``.
The tables of LibreChat's keys are in schema.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from endpoints.config.reader import NO_VALUE, Reader, describe
from endpoints.config.yamlfile import YAML11_BOOLEANS, join


@dataclass(frozen=True, slots=True)
class Type:
    kind: str  # string boolean number enum list record object value section any
    of: Any = None  # element Type, field dict, or enum values
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    above: float | None = None  # exclusive minimum (zod's positive())
    min_items: int = 0
    strict: bool = False
    required: tuple[str, ...] = ()
    nullable: bool = False
    #: An object whose other keys are ours (a model item): no warning about them.
    quiet: bool = False


STRING = Type("string")
BOOLEAN = Type("boolean")
NUMBER = Type("number")
ANY = Type("any")
#: A section whose contents this service does not use: LibreChat validates them, we only
#: check that it is a mapping (a documented deviation, see the README).
SECTION = Type("section")


def number(*, minimum: float | None = None, maximum: float | None = None, integer: bool = False) -> Type:
    return Type("number", minimum=minimum, maximum=maximum, integer=integer)


def positive(*, integer: bool = False) -> Type:
    return Type("number", above=0, integer=integer)


def enum(*values: str) -> Type:
    return Type("enum", of=values)


def list_of(item: Type, *, min_items: int = 0) -> Type:
    return Type("list", of=item, min_items=min_items)


def record(value: Type) -> Type:
    return Type("record", of=value)


def obj(fields: dict[str, Type], *, required: tuple[str, ...] = (), strict: bool = False, quiet: bool = False) -> Type:
    return Type("object", of=fields, required=required, strict=strict, quiet=quiet)


STRINGS = list_of(STRING)
#: A model name, or ``{name, description}`` (our extension keys in it are not warned about).
MODEL_ITEM = Type("model")
_MODEL_OBJECT = obj({"name": STRING, "description": STRING}, required=("name",), quiet=True)


# --- checking -----------------------------------------------------------------------------------


@dataclass
class Checked:
    """What :func:`check_fields` found: the keys LibreChat drops, to warn about or keep."""

    unknown: list[str] = field(default_factory=list)


def check_fields(
    r: Reader,
    data: dict[str, Any],
    fields: dict[str, Type],
    path: str,
    *,
    ours: frozenset[str] = frozenset(),
    warn_unknown: bool = True,
) -> Checked:
    """Check each LibreChat key of an endpoint item; warn about keys neither LibreChat nor we know."""
    found = Checked()
    for key, value in data.items():
        here = join(path, key)
        if key in fields:
            check(r, value, fields[key], here)
        elif key not in ours:
            found.unknown.append(key)
            if warn_unknown:
                r.warn(here, "unknown key; LibreChat ignores it")
    return found


def check(r: Reader, value: Any, t: Type, path: str) -> bool:
    """Report (once, at ``path``) why LibreChat would refuse ``value``; True when it would not."""
    if value is None and not t.nullable and t.kind != "any":
        r.error(path, NO_VALUE)
        return False
    kind = t.kind
    if kind == "any":
        return True
    if kind == "string":
        return _expect(r, isinstance(value, str), value, path, "a string")
    if kind == "boolean":
        if isinstance(value, str) and value in YAML11_BOOLEANS:
            r.error(path, f"write true or false; LibreChat reads {value!r} as text, not a boolean")
            return False
        return _expect(r, isinstance(value, bool), value, path, "true or false")
    if kind == "number":
        return _number(r, value, t, path)
    if kind == "enum":
        if value not in t.of or not isinstance(value, str):
            r.error(path, f"expected one of {', '.join(t.of)}, got {describe(value, r.where.raw.get(path))}")
            return False
        return True
    if kind == "list":
        what = "a list of strings" if t.of is STRING else "a list of model names" if t.of is MODEL_ITEM else "a list"
        if not _expect(r, isinstance(value, list), value, path, what):
            return False
        if len(value) < t.min_items:
            item = "model" if t.of is MODEL_ITEM else "item"
            r.error(path, f"list at least {'one' if t.min_items == 1 else t.min_items} {item}")
            return False
        return all([check(r, item, t.of, join(path, index)) for index, item in enumerate(value)])
    if kind in ("record", "object", "section"):
        if not _expect(r, isinstance(value, dict), value, path, "a mapping"):
            return False
        if kind == "record":
            return all([check(r, item, t.of, join(path, key)) for key, item in value.items()])
        if kind == "object":
            return _object(r, value, t, path)
        return True
    return _special(r, value, t, path)


def _expect(r: Reader, ok: bool, value: Any, path: str, what: str) -> bool:
    if ok:
        return True
    raw = r.where.raw.get(path)
    if what == "a string" and raw is not None and isinstance(value, bool | int | float):
        r.error(path, f"expected a string, but YAML read {raw!r} as {describe(value)}; put it in quotes: '{raw}'")
    elif "name" in what and raw is not None and isinstance(value, bool | int | float):
        r.error(path, f"expected {what}, got {describe(value, raw)}; put it in quotes: '{raw}'")
    else:
        r.error(path, f"expected {what}, got {describe(value, raw)}")
    return False


def _number(r: Reader, value: Any, t: Type, path: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return _expect(r, False, value, path, "a number")
    if t.integer and not float(value).is_integer():
        r.error(path, f"expected a whole number, got {value!r}")
        return False
    if t.minimum is not None and value < t.minimum:
        r.error(path, f"must be at least {t.minimum:g}, got {value!r}")
        return False
    if t.maximum is not None and value > t.maximum:
        r.error(path, f"must be at most {t.maximum:g}, got {value!r}")
        return False
    if t.above is not None and value <= t.above:
        r.error(path, f"must be more than {t.above:g}, got {value!r}")
        return False
    return True


def _object(r: Reader, value: dict[str, Any], t: Type, path: str) -> bool:
    ok = True
    for key in t.required:
        if key not in value:
            r.error(join(path, key), "is required")
            ok = False
    for key, item in value.items():
        if key in t.of:
            ok = check(r, item, t.of[key], join(path, key)) and ok
        elif t.strict:
            r.error(join(path, key), f"unknown key; LibreChat accepts only: {', '.join(t.of)}")
            ok = False
        elif not t.quiet:
            r.warn(join(path, key), "unknown key; LibreChat ignores it")
    return ok


def _special(r: Reader, value: Any, t: Type, path: str) -> bool:
    kind = t.kind
    if kind == "addParams":
        if not _expect(r, isinstance(value, dict), value, path, "a mapping"):
            return False
        if "web_search" in value and not isinstance(value["web_search"], bool):
            r.error(join(path, "web_search"), "`web_search` must be true or false in addParams")
            return False
        return all([_json_value(r, item, join(path, key)) for key, item in value.items()])
    if kind == "scalar":
        return _expect(r, isinstance(value, str | int | float), value, path, "a string, number or boolean")
    if kind == "version":  # assistants' version: a string or a number
        ok = isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool))
        return _expect(r, ok, value, path, "a version such as 2 or 'v2'")
    if kind == "default":  # a parameter's default: number, boolean, string or list of strings
        if isinstance(value, list):
            return all([check(r, item, STRING, join(path, index)) for index, item in enumerate(value)])
        return _expect(r, isinstance(value, str | int | float), value, path, "a number, boolean, text or list")
    if kind == "vertex-models":
        if isinstance(value, list):
            return all([check(r, item, STRING, join(path, index)) for index, item in enumerate(value)])
        if not _expect(r, isinstance(value, dict), value, path, "a list of model names or a mapping"):
            return False
        ok = True
        for key, item in value.items():
            if not isinstance(item, bool):
                ok = check(r, item, obj({"deploymentName": STRING}), join(path, key)) and ok
        return ok
    if kind == "model":
        if isinstance(value, dict):
            return check(r, value, _MODEL_OBJECT, path)
        return _expect(r, isinstance(value, str), value, path, "a model name or {name: …}")
    raise ValueError(f"unknown schema type {kind}")  # pragma: no cover - a typo in the tables


def _json_value(r: Reader, value: Any, path: str) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all([_json_value(r, item, join(path, index)) for index, item in enumerate(value)])
    if isinstance(value, dict):
        return all([_json_value(r, item, join(path, key)) for key, item in value.items()])
    return _expect(r, False, value, path, "a JSON value")
