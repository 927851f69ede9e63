"""``${VAR}`` in apiKey, baseURL and headers, resolved at request time (LibreChat's
extractEnvVariable): every ``${NAME}`` whose variable is set (and not empty) is replaced, also
inside longer strings; an unset variable is left as written."""

from __future__ import annotations

import re

from django.conf import settings

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve(value: str, environ: dict[str, str] | None = None) -> str:
    if "${" not in value:
        return value
    env = settings.ENVIRON if environ is None else environ
    # As LibreChat: a variable that is unset or empty leaves the reference as written.
    return _VAR.sub(lambda m: env.get(m.group(1)) or m.group(0), value)


def resolve_headers(headers: dict[str, str], environ: dict[str, str] | None = None) -> dict[str, str]:
    return {name: resolve(value, environ) for name, value in headers.items()}


def is_unresolved(value: str) -> bool:
    """True when a ``${VAR}`` reference is still there (its variable is unset)."""
    return bool(_VAR.search(value))
