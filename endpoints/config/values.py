"""Checks of single values our extension keys share: a ``rateLimit`` mapping and a base URL."""

from __future__ import annotations

from typing import Any

from endpoints.config.reader import Reader
from endpoints.config.yamlfile import join
from endpoints.models import USER_PROVIDED


def read_rate_limit(r: Reader, item: dict[str, Any], path: str) -> dict[str, int] | None:
    data = r.mapping(item, "rateLimit", path, nullable=True)
    if data is None:
        return None
    here = join(path, "rateLimit")
    r.only_keys(data, {"requests", "tokens", "windowSeconds"}, here)
    requests = r.integer(data, "requests", here, minimum=1, nullable=True)
    tokens = r.integer(data, "tokens", here, minimum=1, nullable=True)
    window = r.integer(data, "windowSeconds", here, minimum=1, required=True, nullable=True)
    if requests is None and tokens is None and not r.failed(here):
        r.error(here, "give `requests`, `tokens` or both")
    limit = {"windowSeconds": window or 60}
    if requests is not None:
        limit["requests"] = requests
    if tokens is not None:
        limit["tokens"] = tokens
    return limit


def check_url(r: Reader, value: str, path: str) -> None:
    """A literal base URL must be http(s) with a host and not a cloud-metadata address.

    Stricter than LibreChat, which takes any text (a documented deviation): a URL this
    service cannot call, or one that reaches cloud metadata, fails here rather than later.
    """
    if not value or value == USER_PROVIDED or "${" in value:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        r.error(path, f"not a URL: {value!r}")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        r.error(path, f"expected an http(s) URL with a host, got {value!r}")
        return
    try:
        from endpoints.netguard import UnsafeURLError, validate_admin_url
    except ImportError:  # pragma: no cover - the guard module is part of the app
        return
    try:
        # No DNS while seeding: literal addresses and metadata names are checked here.
        validate_admin_url(value, resolve=lambda _host, _port: [])
    except UnsafeURLError as exc:
        r.error(path, str(exc))
