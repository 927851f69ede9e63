"""Secrets at rest: authenticated encryption bound to where the secret is stored.

Keys come from ``settings.CREDS_KEYS`` (the ``CREDS_KEY`` variable, comma-separated, newest
first).  Each entry is either

* a Fernet key (32 url-safe base64 bytes, as printed by ``Fernet.generate_key()``), or
* a LibreChat-style ``CREDS_KEY``: 64 hex characters (32 bytes), so a LibreChat ``.env`` works.
  It is turned into a Fernet key deterministically with
  ``urlsafe_b64encode(HKDF-SHA256(ikm=bytes.fromhex(entry), salt=None,
  info=b"librechat-endpoints:fernet:v1", length=32))``.  HKDF rather than the raw bytes keeps
  the material used here separate from LibreChat's own AES-CBC use of the same key.

Values are encrypted with ``MultiFernet`` (AES-128-CBC + HMAC-SHA256): the first key encrypts,
every key decrypts, and :func:`rotate` re-encrypts under the first.  Fernet has no associated
data, so the plaintext is a small JSON envelope ``{"v": 1, "c": context, "p": value}`` and
:func:`decrypt` checks ``c``: a token copied to another row (another context, e.g.
``"userkey:<user_id>:<endpoint>"`` or ``"endpoint:<id>:api_key"``) does not decrypt.

Every failure raises :class:`SecretError`; its message never contains the token or the value.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["SecretError", "decrypt", "encrypt", "mask", "needs_rotation", "rotate"]

logger = logging.getLogger(__name__)

_ENVELOPE_VERSION = 1
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_HKDF_INFO = b"librechat-endpoints:fernet:v1"
# Development only (DEBUG or TESTING with no CREDS_KEY).  A fixed, public constant on
# purpose: it must never look like protection, and must not depend on SECRET_KEY.
_DEV_KEY_MATERIAL = "00" * 32


class SecretError(Exception):
    """A stored secret cannot be read: bad token, unknown key or wrong context.

    ``reason`` is safe to log and show: it never contains the token or the value.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encrypt(value: str, *, context: str) -> str:
    """Encrypt ``value`` for storage in the place named by ``context``."""
    _check_context(context)
    if not isinstance(value, str):
        raise TypeError("encrypt() takes the secret as a str")
    envelope = json.dumps({"v": _ENVELOPE_VERSION, "c": context, "p": value}, separators=(",", ":"))
    return _keys().encrypt(envelope.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, context: str) -> str:
    """Return the value stored in ``token``; :class:`SecretError` if it is not for ``context``.

    Every chat reads its endpoint's key: the answer is kept per token, context and configured
    keys (a change of ``CREDS_KEY`` reads afresh; a failure is never kept)."""
    _check_context(context)
    return _open_kept(token, context, *_key_config())


@functools.lru_cache(maxsize=1024)
def _open_kept(token: str, context: str, configured: tuple[str, ...], dev_allowed: bool) -> str:
    return _open(MultiFernet(list(_load_fernets(configured, dev_allowed))), token, context)


def rotate(token: str, *, context: str) -> str:
    """Re-encrypt ``token`` under the newest key, after checking it belongs to ``context``."""
    _check_context(context)
    keys = _keys()
    _open(keys, token, context)
    return keys.rotate(token.encode("ascii")).decode("ascii")


def needs_rotation(token: str) -> bool:
    """True when ``token`` is readable but was not encrypted with the newest key."""
    raw = _token_bytes(token)
    try:
        _newest().decrypt(raw)
    except InvalidToken:
        pass
    else:
        return False
    try:
        _keys().decrypt(raw)
    except InvalidToken:
        raise SecretError(_UNREADABLE) from None
    return True


def mask(value: str) -> str:
    """``"…" + last 4 characters``, or ``"…"`` alone for values too short to reveal any of."""
    if len(value) < 8:
        return "…"
    return "…" + value[-4:]


_UNREADABLE = (
    "stored secret cannot be decrypted: the token is damaged or was encrypted with a key that is no longer in CREDS_KEY"
)


def _check_context(context: str) -> None:
    if not isinstance(context, str) or not context:
        raise TypeError("a non-empty context string is required")


def _token_bytes(token: str) -> bytes:
    if not isinstance(token, str):
        raise SecretError("stored secret is not a string")
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        raise SecretError(_UNREADABLE) from None


def _open(keys: MultiFernet, token: str, context: str) -> str:
    try:
        plaintext = keys.decrypt(_token_bytes(token))
    except InvalidToken:
        raise SecretError(_UNREADABLE) from None
    try:
        envelope = json.loads(plaintext)
    except ValueError:
        envelope = None
    if not (
        isinstance(envelope, dict) and envelope.get("v") == _ENVELOPE_VERSION and isinstance(envelope.get("p"), str)
    ):
        raise SecretError("stored secret has an unknown format")
    if envelope.get("c") != context:
        raise SecretError(f"stored secret belongs to another record (expected context {context!r})")
    return envelope["p"]


def _keys() -> MultiFernet:
    return MultiFernet(_fernets())


def _newest() -> Fernet:
    return _fernets()[0]


def _key_config() -> tuple[tuple[str, ...], bool]:
    configured = tuple(getattr(settings, "CREDS_KEYS", None) or ())
    dev_allowed = bool(getattr(settings, "DEBUG", False) or getattr(settings, "TESTING", False))
    return configured, dev_allowed


def _fernets() -> list[Fernet]:
    return list(_load_fernets(*_key_config()))


@functools.lru_cache(maxsize=8)
def _load_fernets(configured: tuple[str, ...], dev_allowed: bool) -> tuple[Fernet, ...]:
    """Parse the configured keys once per distinct setting (newest first)."""
    if not configured:
        if not dev_allowed:
            raise ImproperlyConfigured(
                "CREDS_KEY: not set. It encrypts stored API keys; generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        logger.warning(
            "CREDS_KEY is not set: stored secrets are encrypted with a PUBLIC DEVELOPMENT KEY. "
            "Anyone can decrypt them. Set CREDS_KEY before storing real keys."
        )
        return (Fernet(_from_hex(_DEV_KEY_MATERIAL)),)
    return tuple(_parse_key(entry, position) for position, entry in enumerate(configured, start=1))


def _parse_key(entry: str, position: int) -> Fernet:
    entry = entry.strip()
    if _HEX_KEY.fullmatch(entry):
        return Fernet(_from_hex(entry))
    try:
        return Fernet(entry)
    except (ValueError, TypeError, binascii.Error):
        # Never echo the entry: it may be a real key with a typo.
        raise ImproperlyConfigured(
            f"CREDS_KEY: entry {position} is neither a Fernet key nor 64 hex characters"
        ) from None


def _from_hex(entry: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(bytes.fromhex(entry))
    return base64.urlsafe_b64encode(derived)
