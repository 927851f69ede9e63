"""Acting for end users: an app's *service* token names, per request, the person it is for, and
the request is theirs.

An app in front of this service (LibreChat, Open WebUI, a team's bot) holds a token that an
admin marked as a service token (``ApiToken.kind``).  On each ``/v1`` request it names the person:

* ``X-End-User-Id``: the app's id for them (LibreChat fills ``{{LIBRECHAT_USER_ID}}``), and/or
* ``X-End-User-Email``: their email (``{{LIBRECHAT_USER_EMAIL}}``; LibreChat's ``b64:`` form of a
  value outside Latin-1 is decoded);
* without those headers, the body's OpenAI ``user`` (``/v1/chat/completions``) or Anthropic
  ``metadata.user_id`` (``/v1/messages``) names them by id.  A header always wins over the body.

They are found, or made, as an :class:`~endpoints.models.EndUser` of the token's owner: by id
when one is given (the email is kept up to date), else by email; never by a username, so no
client can reach another account, staff or not.  The request's :class:`~core.caller.Caller` is
then that person: rate limits, concurrency slots, balances, spending limits and usage rows
apply to them.  A token that is not a service token and sends the headers is refused (403),
never attributed; so is a deactivated end user.

Resolution is cached as tokens are (``endpoints.auth.tokens``): a process-local memo trusted
for :data:`LOCAL_TTL` seconds in front of the shared cache, keyed by a hash of (owner, id or
email), so a warm request makes no query.  Saving or deleting an end user (or their Django
user) evicts the shared entry at once (signals in ``EndpointsConfig.ready``): a deactivation
reaches every worker within ``LOCAL_TTL``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import IntegrityError, transaction

from core import memo
from core.caller import Caller, caller_from_user
from core.errors import ApiError

HEADER_ID = "X-End-User-Id"
HEADER_EMAIL = "X-End-User-Email"
_HEADERS = {HEADER_ID.lower().encode(): HEADER_ID, HEADER_EMAIL.lower().encode(): HEADER_EMAIL}
LOCAL_TTL = 5.0
SHARED_TTL = 300
MAX_ID = 200
MAX_EMAIL = 254
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A template placeholder the app did not fill ({{LIBRECHAT_USER_ID}} sent as it is).
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True, slots=True)
class EndUserRef:
    """How a request names a person: the app's id for them, their email, or both."""

    external_id: str = ""
    email: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return ("id", self.external_id) if self.external_id else ("email", self.email)

    @property
    def label(self) -> str:
        return self.external_id or self.email


def _invalid(where: str, problem: str) -> ApiError:
    return ApiError("invalid_request", f"{where}: {problem}", errors={where: [problem]})


def _identifier(value: str, where: str) -> str:
    value = value.strip()
    if _PLACEHOLDER.search(value):
        raise _invalid(where, f"{value!r} is a template placeholder the app did not fill in (LibreChat fills "
                       "{{LIBRECHAT_USER_ID}} and {{LIBRECHAT_USER_EMAIL}} in a custom endpoint's headers).")  # fmt: skip
    if len(value) > MAX_ID:
        raise _invalid(where, f"Must be at most {MAX_ID} characters.")
    if _CONTROL.search(value):
        raise _invalid(where, "Must not contain control characters.")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if value.startswith("b64:"):  # LibreChat's encodeHeaderValue: UTF-8 outside Latin-1, base64'd
        try:
            value = base64.b64decode(value[4:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _invalid(HEADER_EMAIL, "A b64: value must be base64 of UTF-8 text.") from None
    value = _identifier(value, HEADER_EMAIL).lower()
    if value and (len(value) > MAX_EMAIL or not _EMAIL.match(value)):
        raise _invalid(HEADER_EMAIL, "Must be an email address.")
    return value


def header_names(scope: dict[str, Any]) -> list[str]:
    """The end-user headers the request sends (even empty ones)."""
    return sorted({_HEADERS[key] for key, _value in scope.get("headers", ()) if key in _HEADERS})


def from_headers(scope: dict[str, Any]) -> EndUserRef | None:
    """The person the headers name; None without the headers; ``invalid_request`` for values that
    name nobody (empty, unfilled placeholders) or are malformed."""
    values: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        if key in _HEADERS:
            values[_HEADERS[key]] = value.decode("latin-1")
    if not values:
        return None
    ref = EndUserRef(_identifier(values.get(HEADER_ID, ""), HEADER_ID), _email(values.get(HEADER_EMAIL, "")))
    if not ref.label:
        raise _invalid(" and ".join(sorted(values)), "Empty: the header must name the end user the request is for.")
    return ref


def from_body(value: Any, where: str) -> EndUserRef | None:
    """The person a body field names by id (OpenAI ``user``, Anthropic ``metadata.user_id``), if any."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(where, "Must be a string.")
    external_id = _identifier(value, where)
    return EndUserRef(external_id=external_id) if external_id else None


def not_a_service(names: list[str]) -> ApiError:
    return ApiError(
        "permission_denied",
        f"This token may not act for end users ({', '.join(names)} sent): only a service token may, and an "
        "admin marks it so (admin > API tokens > 'Mark as service tokens'). Remove the header(s) to act as "
        "yourself.",
        status=403,
    )


# --- resolution --------------------------------------------------------------------------------


def cache_key(owner_id: int, key: tuple[str, str]) -> str:
    digest = hashlib.sha256(f"{owner_id}\x00{key[0]}\x00{key[1]}".encode()).hexdigest()
    return "auth:enduser:" + digest[:40]


#: What the caches hold: the end user as a caller, and whether they may chat (their user is active).
Entry = tuple[Caller, bool]


def _find(owner_id: int, ref: EndUserRef) -> Any:
    from endpoints.models import EndUser

    rows = EndUser.objects.select_related("user").filter(service_owner_id=owner_id)
    if ref.external_id:
        return rows.filter(external_id=ref.external_id).first()
    return rows.filter(external_id="", email=ref.email).first()


def _username(owner: Any, ref: EndUserRef, attempt: int) -> str:
    """``<owner>~<id or email>``: readable in admin and reports, and of a form no sign-up or admin
    form accepts (``~`` is not a username character), so it never names a real account."""
    base = f"{owner.get_username()}~{ref.label}"
    return base[:150] if attempt == 0 else f"{base[:140]}~{secrets.token_hex(4)}"


def _create(owner_id: int, ref: EndUserRef) -> Any:
    from django.contrib.auth import get_user_model

    from endpoints.models import EndUser

    users = get_user_model()
    owner = users.objects.get(pk=owner_id)
    for attempt in range(5):
        try:
            with transaction.atomic():
                user = users(**{users.USERNAME_FIELD: _username(owner, ref, attempt)}, email=ref.email)
                user.set_unusable_password()  # nobody signs in as an end user
                user.save()
                return EndUser.objects.create(service_owner_id=owner_id, external_id=ref.external_id,
                                              email=ref.email, user=user)  # fmt: skip
        except IntegrityError:
            found = _find(owner_id, ref)  # another request made them first
            if found is not None:
                return found
    raise RuntimeError(f"could not make an end user for owner {owner_id}")


def resolve_sync(owner_id: int, ref: EndUserRef) -> Entry:
    """The end user ``ref`` names among ``owner_id``'s, made on first sight; their email kept current."""
    row = _find(owner_id, ref) or _create(owner_id, ref)
    if ref.external_id and ref.email and row.email != ref.email:
        row.email = ref.email
        row.save(update_fields=["email"])
        row.user.email = ref.email
        row.user.save(update_fields=["email"])
    return caller_from_user(row.user), bool(row.user.is_active)


def _from_cache(value: Any) -> Entry | None:
    if not isinstance(value, dict) or "caller" not in value:
        return None
    return Caller(**value["caller"]), bool(value.get("active"))


async def act_for(owner: Caller, ref: EndUserRef) -> Caller:
    """The caller of a request a service token (held by ``owner``) makes for ``ref``."""
    key = cache_key(owner.id, ref.key)
    entry: Entry | None = memo.get(key)
    if entry is memo.MISSING:
        entry = _from_cache(await cache.aget(key))
        if entry is not None:
            memo.put(key, entry, LOCAL_TTL)
    if entry is None or (ref.external_id and ref.email and entry[0].email != ref.email):
        entry = await sync_to_async(resolve_sync)(owner.id, ref)
        memo.put(key, entry, LOCAL_TTL)
        await cache.aset(key, {"caller": asdict(entry[0]), "active": entry[1]}, timeout=SHARED_TTL)
    caller, active = entry
    if not active:
        raise ApiError("permission_denied", f"The end user {ref.label!r} has been deactivated here; an admin can "
                       "reactivate their user.", status=403)  # fmt: skip
    return caller


def forget(row: Any) -> None:
    """Evict what the caches say about the end user ``row`` (an :class:`~endpoints.models.EndUser`)."""
    key = cache_key(row.service_owner_id, row.key)
    cache.delete(key)
    memo.forget(key)


def forget_user(user_id: int) -> None:
    """A Django user changed: if they are an end user, evict what the caches say about them."""
    from endpoints.models import EndUser

    for row in EndUser.objects.filter(user_id=user_id):
        forget(row)
