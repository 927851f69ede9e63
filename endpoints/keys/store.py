"""Users' own keys for ``user_provided`` endpoints: store, look up, revoke (CONTRACT §4).

Values are kept in LibreChat's formats (``api/server/services/UserService.js``,
``packages/data-schemas/src/methods/key.ts``, the client's ``SetKeyDialog.tsx``):

* OpenAI-style endpoints (openAI, custom, assistants, azureOpenAI, azureAssistants): a JSON string
  ``{"apiKey": "…", "baseURL": "…"}``, read with ``getUserKeyValues`` (``JSON.parse``; a value
  that does not parse is ``invalid_user_key``).  ``baseURL`` is stored only where the endpoint
  has ``userProvideURL``.  A plain key string, as older LibreChat clients sent for openAI, is
  accepted and stored as ``{"apiKey": …}``.
* google: ``{"GOOGLE_API_KEY": "…"}``, what LibreChat's ``GoogleConfig`` sends; a plain key is
  accepted too.
* anthropic (and anything else): the key as a plain string.

Each value is encrypted by :mod:`endpoints.secrets` with the context
``userkey:<user id>:<endpoint>``, so a ciphertext copied to another row does not decrypt.
A key without expiry never expires (LibreChat's ``"never"``).  Nothing here logs, returns or
puts a key into an exception message.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from core import secrets
from endpoints.catalog.snapshot import EndpointInfo, get_snapshot
from endpoints.catalog.targets import TargetError, UserCredentials
from endpoints.models import EndpointKind, UserKey
from endpoints.netguard import UnsafeURLError, validate_user_url

log = logging.getLogger(__name__)

#: Endpoint kinds whose user value is LibreChat's ``{"apiKey", "baseURL"}`` JSON.
OPENAI_STYLE = frozenset(
    {
        EndpointKind.OPENAI,
        EndpointKind.CUSTOM,
        EndpointKind.ASSISTANTS,
        EndpointKind.AZURE_OPENAI,
        EndpointKind.AZURE_ASSISTANTS,
    }
)
GOOGLE_API_KEY = "GOOGLE_API_KEY"  # LibreChat's AuthKeys.GOOGLE_API_KEY
MAX_VALUE_LENGTH = 20_000


class UserKeyError(Exception):
    """A value cannot be stored.  ``type`` is the contract's error type, ``field`` the request
    field at fault; the message says what to change and never quotes the value."""

    def __init__(self, type: str, message: str, field: str = "value") -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """What may be shown about a stored key: never the key, only its masked tail."""

    endpoint: str
    state: str  # "not_set" | "set" | "expired"
    expires_at: datetime | None = None
    hint: str = ""

    @property
    def is_set(self) -> bool:
        return self.state != "not_set"

    def expires_json(self) -> str | None:
        """LibreChat's ``GET /api/keys`` value: an ISO date, ``"never"`` or ``None`` (no key)."""
        if not self.is_set:
            return None
        return iso(self.expires_at) if self.expires_at else "never"


def context(user_id: int, endpoint_name: str) -> str:
    """The encryption context binding a ciphertext to its user and endpoint."""
    return f"userkey:{user_id}:{endpoint_name}"


def iso(moment: datetime) -> str:
    """A UTC timestamp as JavaScript's ``Date.toJSON()`` writes it: ``2025-01-31T12:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def takes_user_key(endpoint: EndpointInfo) -> bool:
    return endpoint.user_provides_key or endpoint.user_provides_url


def user_key_endpoints() -> list[EndpointInfo]:
    """Every enabled endpoint for which a user stores a key or a base URL, in display order."""
    return [e for e in get_snapshot().endpoints.values() if takes_user_key(e)]


def find_endpoint(name: str) -> EndpointInfo:
    """The enabled endpoint ``name`` if it takes user keys, else :class:`UserKeyError` on ``name``."""
    endpoint = get_snapshot().get(name)
    if endpoint is None:
        raise UserKeyError("invalid_request", f"There is no enabled endpoint named {name!r}.", field="name")
    if not takes_user_key(endpoint):
        raise UserKeyError(
            "invalid_request",
            f"{name} does not take user-provided keys: its key is configured by the administrator.",
            field="name",
        )
    return endpoint


# --- values ---------------------------------------------------------------------------


def parse_value(endpoint: EndpointInfo, value: str) -> UserCredentials:
    """Read a value in any accepted form; :class:`UserKeyError` if it is unusable for ``endpoint``.

    The base URL is returned as given; :func:`check_base_url` vets it.
    """
    if not isinstance(value, str) or not value.strip():
        raise UserKeyError("invalid_request", "The value is empty: send the key.")
    if len(value) > MAX_VALUE_LENGTH:
        raise UserKeyError("invalid_request", f"The value is longer than {MAX_VALUE_LENGTH} characters.")
    text = value.strip()
    if endpoint.kind in OPENAI_STYLE:
        return _openai_style(endpoint, text)
    if endpoint.kind == EndpointKind.GOOGLE and _looks_like_json(text):
        data = _json_object(text, f'{{"{GOOGLE_API_KEY}": "…"}}')
        return UserCredentials(api_key=_string(data, GOOGLE_API_KEY, required=True))
    return UserCredentials(api_key=text)


def _openai_style(endpoint: EndpointInfo, text: str) -> UserCredentials:
    shape = '{"apiKey": "…", "baseURL": "…"}' if endpoint.user_provides_url else '{"apiKey": "…"}'
    if not _looks_like_json(text):
        if endpoint.user_provides_url:
            raise UserKeyError("invalid_request", f"{endpoint.name} needs a base URL too: send {shape} as the value.")
        return UserCredentials(api_key=text)
    data = _json_object(text, shape)
    api_key = _string(data, "apiKey", required=endpoint.user_provides_key)
    base_url = _string(data, "baseURL", required=endpoint.user_provides_url)
    return UserCredentials(
        api_key=api_key if endpoint.user_provides_key else None,
        base_url=base_url if endpoint.user_provides_url else None,
    )


def _looks_like_json(text: str) -> bool:
    return text[:1] in ("{", "[", '"')


def _json_object(text: str, shape: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        # json's message quotes nothing of the input, but ours says what to send instead.
        raise UserKeyError("invalid_request", f"The value is not valid JSON: send {shape}.") from None
    if not isinstance(data, dict):
        raise UserKeyError("invalid_request", f"The value must be a JSON object: {shape}.")
    return data


def _string(data: dict[str, Any], name: str, *, required: bool) -> str | None:
    item = data.get(name)
    if item is None or item == "":
        if required:
            raise UserKeyError("invalid_request", f"The value has no {name!r}.")
        return None
    if not isinstance(item, str):
        raise UserKeyError("invalid_request", f"{name!r} in the value must be a string.")
    return item.strip()


def check_base_url(endpoint: EndpointInfo, base_url: str) -> str:
    """The normalized base URL, or ``invalid_base_url`` with netguard's reason."""
    try:
        return validate_user_url(base_url)
    except UnsafeURLError as exc:
        raise UserKeyError("invalid_base_url", f"The base URL for {endpoint.name} is not allowed: {exc}.") from None


def encode_value(endpoint: EndpointInfo, credentials: UserCredentials) -> str:
    """``credentials`` in the format LibreChat stores for ``endpoint``."""
    if endpoint.kind in OPENAI_STYLE:
        data: dict[str, str] = {}
        if credentials.api_key:
            data["apiKey"] = credentials.api_key
        if credentials.base_url:
            data["baseURL"] = credentials.base_url
        return json.dumps(data, separators=(",", ":"))
    if endpoint.kind == EndpointKind.GOOGLE:
        return json.dumps({GOOGLE_API_KEY: credentials.api_key or ""}, separators=(",", ":"))
    return credentials.api_key or ""


def compose_value(endpoint: EndpointInfo, api_key: str, base_url: str) -> str:
    """The value LibreChat's key dialog would send for these form fields."""
    if endpoint.kind in OPENAI_STYLE:
        data = {"apiKey": api_key}
        if endpoint.user_provides_url:
            data["baseURL"] = base_url
        return json.dumps(data)
    return api_key


# --- storage --------------------------------------------------------------------------


def set_key(user: Any, name: str, value: str, expires_at: datetime | None) -> UserKey:
    """Store (or replace) ``user``'s value for endpoint ``name``; ``expires_at`` None = never.

    Raises :class:`UserKeyError` for an unknown endpoint, one without user keys, a value that
    does not fit the endpoint, or an unsafe base URL (checked now, and again on every connect).
    """
    endpoint = find_endpoint(name)
    credentials = parse_value(endpoint, value)
    if credentials.base_url:
        credentials = UserCredentials(credentials.api_key, check_base_url(endpoint, credentials.base_url))
    stored = encode_value(endpoint, credentials)
    with transaction.atomic():
        row, created = UserKey.objects.update_or_create(
            user=user,
            endpoint=endpoint.name,
            defaults={
                "ciphertext": secrets.encrypt(stored, context=context(user.pk, endpoint.name)),
                "hint": secrets.mask(credentials.api_key) if credentials.api_key else "",
                "expires_at": expires_at,
            },
        )
    log.info(
        "user %s %s their key for %s (expires %s)",
        user.pk,
        "stored" if created else "replaced",
        endpoint.name,
        iso(expires_at) if expires_at else "never",
    )
    return row


def get_status(user: Any, name: str) -> KeyStatus:
    row = UserKey.objects.filter(user=user, endpoint=name).only("expires_at", "hint").first()
    return _status(name, row)


def statuses(user: Any) -> list[tuple[EndpointInfo, KeyStatus]]:
    """Each endpoint taking user keys with ``user``'s key status: one query."""
    endpoints = user_key_endpoints()
    rows = {
        row.endpoint: row
        for row in UserKey.objects.filter(user=user, endpoint__in=[e.name for e in endpoints]).only(
            "endpoint", "expires_at", "hint"
        )
    }
    return [(e, _status(e.name, rows.get(e.name))) for e in endpoints]


def _status(name: str, row: UserKey | None) -> KeyStatus:
    if row is None:
        return KeyStatus(endpoint=name, state="not_set")
    expired = row.expires_at is not None and row.expires_at <= timezone.now()
    return KeyStatus(endpoint=name, state="expired" if expired else "set", expires_at=row.expires_at, hint=row.hint)


def delete_key(user: Any, name: str) -> bool:
    """Revoke ``user``'s key for ``name``; True if there was one."""
    deleted, _ = UserKey.objects.filter(user=user, endpoint=name).delete()
    if deleted:
        log.info("user %s revoked their key for %s", user.pk, name)
    return bool(deleted)


def delete_all(user: Any) -> int:
    """Revoke every key of ``user``; the number revoked."""
    deleted, _ = UserKey.objects.filter(user=user).delete()
    log.info("user %s revoked all their keys (%s)", user.pk, deleted)
    return deleted


# --- use ------------------------------------------------------------------------------


async def user_credentials(user_id: int, endpoint: EndpointInfo) -> UserCredentials:
    """The caller's key (and base URL) for a ``user_provided`` endpoint, ready for a request.

    Raises :class:`TargetError` with the contract's type: ``no_user_key`` (none stored),
    ``expired_user_key`` (with ``expiredAt`` and ``endpoint``), ``invalid_user_key`` (it does
    not decrypt for this user and endpoint — tampered, swapped or CREDS_KEY lost — or does not
    parse), ``invalid_base_url`` (the stored URL fails the SSRF policy now).
    """
    name = endpoint.name
    row = await UserKey.objects.filter(user_id=user_id, endpoint=name).only("ciphertext", "expires_at").afirst()
    if row is None:
        raise TargetError(
            "no_user_key", f"You have not set your API key for {name}: add it on /keys/ first.", endpoint=name
        )
    if row.expires_at is not None and row.expires_at <= timezone.now():
        raise TargetError(
            "expired_user_key",
            f"Your API key for {name} expired on {iso(row.expires_at)}: set a new one on /keys/.",
            expiredAt=iso(row.expires_at),
            endpoint=name,
        )
    unreadable = f"Your stored API key for {name} cannot be read: set it again on /keys/."
    try:
        value = secrets.decrypt(row.ciphertext, context=context(user_id, name))
    except secrets.SecretError as exc:
        log.warning("user %s: stored key for %s is unreadable: %s", user_id, name, exc.reason)
        raise TargetError("invalid_user_key", unreadable, endpoint=name) from None
    try:
        credentials = parse_value(endpoint, value)
    except UserKeyError as exc:
        log.warning("user %s: stored key for %s does not parse: %s", user_id, name, exc.message)
        raise TargetError("invalid_user_key", unreadable, endpoint=name) from None
    if endpoint.user_provides_key and not credentials.api_key:
        raise TargetError(
            "no_user_key", f"Your stored value for {name} has no API key: set it on /keys/.", endpoint=name
        )
    base_url = None
    if endpoint.user_provides_url:
        try:
            base_url = await sync_to_async(validate_user_url, thread_sensitive=False)(credentials.base_url or "")
        except UnsafeURLError as exc:
            raise TargetError(
                "invalid_base_url", f"Your base URL for {name} is not allowed: {exc}.", endpoint=name
            ) from None
    return UserCredentials(api_key=credentials.api_key if endpoint.user_provides_key else None, base_url=base_url)
