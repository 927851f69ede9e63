"""Named personal API tokens: create (the key is shown once), list, revoke.

A key is ``lcp_`` and 40 random URL-safe characters; only its SHA-256 and its first
:data:`PREFIX_LENGTH` characters are stored.  See ``endpoints.auth.tokens`` for how a key
is resolved on each request and how fast a revocation reaches every worker.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from endpoints.auth.tokens import PERSONAL_PREFIX, forget_hash, key_hash
from endpoints.models import ApiToken, TokenKind

PREFIX_LENGTH = 10  # "lcp_" and six characters: enough to tell one's tokens apart
#: Tokens one person may hold at once (revoked ones do not count).
MAX_TOKENS = 100


class TokenError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    key: str  # shown once, never stored


def new_key() -> str:
    return PERSONAL_PREFIX + secrets.token_urlsafe(30)


def active(user: Any) -> QuerySet[ApiToken]:
    """``user``'s tokens that were not revoked (expired ones included: they say when they lapsed)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True)


def everyone() -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(revoked_at__isnull=True).select_related("user")


def create(user: Any, name: str, expires_at: datetime | None = None) -> NewToken:
    name = name.strip()
    if not name:
        raise TokenError("name", "Give the token a name, e.g. 'laptop' or 'CI'.")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("expires_at", "The expiry must be in the future (or empty: never).")
    with transaction.atomic():
        if active(user).count() >= MAX_TOKENS:
            raise TokenError("name", f"You already have {MAX_TOKENS} tokens: revoke one you no longer use.")
        key = new_key()
        token = ApiToken.objects.create(user=user, kind=TokenKind.PERSONAL, name=name, prefix=key[:PREFIX_LENGTH],
                                        key_hash=key_hash(key), expires_at=expires_at)  # fmt: skip
    return NewToken(token=token, key=key)


def visible_to(user: Any) -> QuerySet[ApiToken]:
    """The tokens ``user`` may see and revoke: their own; staff, everyone's."""
    return everyone() if user.is_staff else active(user).select_related("user")


def revoke(token: ApiToken) -> None:
    """Stops it on this worker at once and on every other within ``tokens.LOCAL_TTL``."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    forget_hash(token.key_hash)


def revoke_all(tokens: QuerySet[ApiToken]) -> int:
    count = 0
    for token in tokens.filter(revoked_at__isnull=True):
        revoke(token)
        count += 1
    return count
