"""Who is asking: the authenticated user, as much as a request needs (no query to read it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user, as much as a request needs."""

    id: int
    username: str
    email: str = ""
    is_staff: bool = False
    is_superuser: bool = False


def caller_from_user(user: Any) -> Caller:
    """The request-sized view of a user (for tokens and sessions alike)."""
    return Caller(
        id=user.pk,
        username=user.get_username(),
        email=user.email or "",
        is_staff=user.is_staff,
        is_superuser=user.is_superuser,
    )
