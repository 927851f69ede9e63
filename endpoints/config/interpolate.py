"""``${VAR}`` in apiKey, baseURL and headers, resolved at request time (LibreChat's
extractEnvVariable): every ``${NAME}`` whose variable is set (and not empty) is replaced, also
inside longer strings; an unset variable is left as written.

Some variables are never resolved (``settings.NEVER_RESOLVED``): LibreChat's sensitive ones and
the service's own (``SECRET_KEY``, ``CREDS_KEY``, ``DATABASE_URL`` …).  A reference to one stays
as written, so it is never sent upstream, and seeding warns about it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.conf import settings

from endpoints.models import USER_PROVIDED

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve(value: str, environ: Mapping[str, str] | None = None) -> str:
    if "${" not in value:
        return value
    env = settings.ENVIRON if environ is None else environ
    never = settings.NEVER_RESOLVED
    # As LibreChat: a variable that is unset or empty leaves the reference as written.
    return _VAR.sub(lambda m: m.group(0) if m.group(1) in never else env.get(m.group(1)) or m.group(0), value)


def resolve_headers(headers: dict[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    return {name: resolve(value, environ) for name, value in headers.items()}


def never_resolved(value: str) -> list[str]:
    """The variables ``value`` refers to that are never resolved (for seeding's warnings)."""
    return [name for name in _VAR.findall(value) if name in settings.NEVER_RESOLVED]


def is_unresolved(value: str) -> bool:
    """True when a ``${VAR}`` reference is still there (its variable is unset)."""
    return bool(_VAR.search(value))


def secrets_for_any_url(api_key: str, base_url: str, headers: dict[str, str]) -> str | None:
    """Why an endpoint would send the server's secrets to whatever URL each user enters (its
    ``baseURL`` is ``user_provided``), or None when it would not."""
    if base_url.strip() != USER_PROVIDED:
        return None
    if api_key and api_key.strip() != USER_PROVIDED:
        return ("its apiKey is the server's while each user enters the baseURL (user_provided): the server's key "
                "would be sent to any URL a user types. Use apiKey: user_provided too, or a fixed baseURL.")  # fmt: skip
    refs = sorted({name for value in headers.values() for name in _VAR.findall(value)})
    if refs:
        named = ", ".join(f"${{{name}}}" for name in refs)
        return (f"its headers send {named} while each user enters the baseURL (user_provided): the server's "
                "variables would be sent to any URL a user types. Drop them, or use a fixed baseURL.")  # fmt: skip
    return None
