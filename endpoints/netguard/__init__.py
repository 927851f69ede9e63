"""Outbound URL safety (SSRF guard) for base URLs that users and admins supply.

Two layers, both needed:

* **Save time** — :func:`validate_user_url` / :func:`validate_admin_url` parse a URL strictly,
  refuse parser tricks, interpret IP literals the way ``inet_aton``/``getaddrinfo`` would
  (``2130706433``, ``0x7f.1``, ``[::ffff:7f00:1]`` …), resolve names and require every answer to
  be allowed.  They raise :class:`UnsafeURLError` (a ``ValueError``) with a message fit for a form.
* **Connect time** — :func:`guarded_transport` / :func:`make_guarded_client` (httpx2's client on
  aiohttp's pool) resolve the host themselves for every new connection, refuse it if any answer
  is forbidden, then connect to the vetted addresses (Host header and TLS SNI stay the original
  name); IP literals are checked before the request.  DNS rebinding between save
  and use is therefore caught.  They raise :class:`BlockedAddressError`, a subclass of
  ``httpx2.ConnectError``.

Policy (:func:`is_forbidden_ip`): user URLs may reach public unicast addresses only; admin URLs
(``allow_private=True``) may reach anything except cloud metadata services, which are refused
always — also when embedded in IPv4-mapped, NAT64, 6to4 or Teredo IPv6 addresses.

How callers map the errors: ``UnsafeURLError`` from a form or ``PUT /api/keys`` is a 400
``invalid_base_url``; a ``BlockedAddressError`` during a request is ``invalid_base_url`` when the
base URL came from the user, else ``upstream_error`` (502).  Catch it before generic
``httpx2.ConnectError`` handling, which it would otherwise fall into as a connection failure.
"""

from __future__ import annotations

from endpoints.netguard.policy import is_forbidden_host, is_forbidden_ip
from endpoints.netguard.transport import BlockedAddressError, GuardedTransport, guarded_transport, make_guarded_client
from endpoints.netguard.urls import Resolver, UnsafeURLError, system_resolver, validate_admin_url, validate_user_url

__all__ = [
    "BlockedAddressError",
    "GuardedTransport",
    "Resolver",
    "UnsafeURLError",
    "guarded_transport",
    "is_forbidden_host",
    "is_forbidden_ip",
    "make_guarded_client",
    "system_resolver",
    "validate_admin_url",
    "validate_user_url",
]
