"""Typed reads from parsed YAML that record a problem (with path and line)
instead of raising, so one run reports every mistake in a file."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from endpoints.config.interpolate import never_resolved
from endpoints.config.yamlfile import YAML11_BOOLEANS, Located, Problem, join

_MISSING = object()
NO_VALUE = "has no value; LibreChat refuses a key written without one (remove it or give a value)"
#: The largest whole number a row can hold (PositiveIntegerField on PostgreSQL).
MAX_INT = 2_147_483_647
#: Prices are stored as DecimalField(max_digits=14, decimal_places=6).
MAX_PRICE = Decimal(10) ** 8


def _yaml_type(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def describe(value: Any, raw: str | None = None) -> str:
    """How YAML read a value, for messages: "the number 3.1", with what was written when
    that was a plain scalar ("'3.10', which YAML reads as the number 3.1")."""
    if raw is not None and isinstance(value, bool | int | float):
        return f"{raw!r}, which YAML reads as {_yaml_type(value)}"
    return _yaml_type(value)


class Reader:
    def __init__(self, where: Located) -> None:
        self.where = where
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def error(self, path: str, message: str) -> None:
        if any(p.path == path for p in self.problems):
            return  # one problem per value: LibreChat's rules and ours may both object
        self.problems.append(Problem(path, message, self._line(path)))

    def _line(self, path: str) -> int | None:
        """The line of ``path``, or of the nearest mapping or list around it (a missing key)."""
        while path:
            line = self.where.line(path)
            if line:
                return line
            parent = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path)
            if parent == path:
                break
            path = parent
        return None

    def failed(self, path: str) -> bool:
        """True when a problem was already reported at ``path`` or inside it."""
        return any(p.path == path or p.path.startswith((f"{path}.", f"{path}[")) for p in self.problems)

    def references(self, value: str, path: str) -> None:
        """Warn about ``${VAR}`` references that are never resolved (``settings.NEVER_RESOLVED``)."""
        for name in never_resolved(value):
            self.warn(path, f"${{{name}}} is never resolved (a variable of the service itself, or one LibreChat "
                      "keeps secret): it stays as written and is never sent upstream")  # fmt: skip

    def warn(self, path: str, message: str) -> None:
        line = self._line(path)
        text = f"{path}: {message}" + (f" (line {line})" if line else "")
        if text not in self.warnings:
            self.warnings.append(text)

    # --- scalars -------------------------------------------------------------
    def string(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        default: str = "",
        nullable: bool = False,
    ) -> str:
        value = data.get(key, _MISSING)
        here = join(path, key)
        if value is None and not nullable:
            self.error(here, NO_VALUE)
            return default
        if value is _MISSING or value is None:
            if required:
                self.error(here, "is required")
            return default
        if isinstance(value, str):
            if required and not value.strip():
                self.error(here, "must not be empty")
            raw = self.where.raw.get(here)
            if raw in YAML11_BOOLEANS and value == raw:
                self.warn(here, f"read as the text {value!r}, as LibreChat does; YAML 1.1 tools read it as a boolean")
            return value
        raw = self.where.raw.get(here)
        if raw is not None and isinstance(value, bool | int | float):
            self.error(
                here,
                f"expected a string, but YAML read {raw!r} as {_yaml_type(value)}; put it in quotes: '{raw}'",
            )
        else:
            self.error(here, f"expected a string, got {_yaml_type(value)}")
        return default

    def boolean(
        self, data: dict[str, Any], key: str, path: str, default: bool = False, *, nullable: bool = False
    ) -> bool:
        value = data.get(key, _MISSING)
        if value is None and not nullable:
            self.error(join(path, key), NO_VALUE)
            return default
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in YAML11_BOOLEANS:
            # YAML 1.1 tools read yes/no/on/off as booleans; LibreChat (YAML 1.2) reads them as text.
            self.error(join(path, key), f"write true or false; LibreChat reads {value!r} as text, not a boolean")
            return default
        self.error(join(path, key), f"expected true or false, got {_yaml_type(value)}")
        return default

    def integer(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        *,
        minimum: int = 0,
        required: bool = False,
        nullable: bool = False,
    ) -> int | None:
        value = data.get(key, _MISSING)
        here = join(path, key)
        if value is None and not nullable:
            self.error(here, NO_VALUE)
            return None
        if value is _MISSING or value is None:
            if required:
                self.error(here, "is required")
            return None
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)  # 1e3 or 30.0: a whole number, as in JavaScript
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(here, f"expected a whole number, got {_yaml_type(value)}")
            return None
        if value < minimum:
            self.error(here, f"must be at least {minimum}, got {value}")
            return None
        if value > MAX_INT:
            self.error(here, f"must be at most {MAX_INT}, got {value}")
            return None
        return value

    def price(self, data: dict[str, Any], key: str, path: str) -> Decimal | None:
        value = data.get(key, _MISSING)
        here = join(path, key)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.error(here, f"expected a price in USD per 1M tokens, got {_yaml_type(value)}")
            return None
        try:
            price = Decimal(str(value))
        except InvalidOperation:
            self.error(here, f"expected a price in USD per 1M tokens, got {value!r}")
            return None
        if (isinstance(value, float) and not math.isfinite(value)) or not price.is_finite() or price < 0:
            self.error(here, f"a price must be a finite number >= 0, got {value!r}")
            return None
        if price >= MAX_PRICE:
            self.error(here, f"a price must be below {MAX_PRICE} USD per 1M tokens, got {value!r}")
            return None
        return price

    # --- containers ------------------------------------------------------------
    def mapping(
        self, data: dict[str, Any], key: str, path: str, *, required: bool = False, nullable: bool = False
    ) -> dict[str, Any] | None:
        value = data.get(key, _MISSING)
        here = join(path, key)
        if value is None and not nullable:
            self.error(here, NO_VALUE)
            return None
        if value is _MISSING or value is None:
            if required:
                self.error(here, "is required")
            return None
        if not isinstance(value, dict):
            self.error(here, f"expected a mapping, got {_yaml_type(value)}")
            return None
        return value

    def string_map(self, data: dict[str, Any], key: str, path: str) -> dict[str, str]:
        value = self.mapping(data, key, path) or {}
        here = join(path, key)
        result: dict[str, str] = {}
        for name in value:
            text = self.string(value, name, here)
            if isinstance(value[name], str):
                result[name] = text
        return result

    def string_list(
        self, data: dict[str, Any], key: str, path: str, *, min_items: int = 0, nullable: bool = False
    ) -> list[str] | None:
        value = data.get(key, _MISSING)
        here = join(path, key)
        if value is None and not nullable:
            self.error(here, NO_VALUE)
            return None
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, list):
            self.error(here, f"expected a list of strings, got {_yaml_type(value)}")
            return None
        result = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                result.append(item)
            else:
                raw = self.where.raw.get(join(here, index))
                hint = (
                    f"; put it in quotes: '{raw}'" if raw is not None and isinstance(item, int | float | bool) else ""
                )
                self.error(join(here, index), f"expected a string, got {_yaml_type(item)}{hint}")
        if len(value) < min_items:
            self.error(here, f"list at least {min_items} item{'s' if min_items > 1 else ''}")
        return result

    def only_keys(self, data: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in data:
            if key not in allowed:
                self.error(join(path, key), f"unknown key; expected one of: {', '.join(sorted(allowed))}")
