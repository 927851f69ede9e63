"""The first admin: while no user exists, ``/setup/<token>`` creates one (no default password, ever).

The token is derived from ``SECRET_KEY`` (an HMAC), so every process and ``manage.py
setup_link`` agree on it without storing anything, and nobody can guess it; it is valid until
used, because setup closes for good once any user exists.  ``scripts/run`` prints the link.

The token is required even from 127.0.0.1: behind a reverse proxy on the same machine every
request comes from 127.0.0.1, and the first visitor from the internet would become the admin.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.crypto import salted_hmac

SALT = "endpoints.auth.setup.first-admin"


class SetupClosed(Exception):
    """Someone already made a user: setup is over."""


def needed() -> bool:
    return not get_user_model().objects.exists()


def token() -> str:
    return salted_hmac(SALT, "first admin", algorithm="sha256").hexdigest()[:40]


def valid(candidate: str) -> bool:
    return hmac.compare_digest(candidate.encode(), token().encode())


def path() -> str:
    return f"/setup/{token()}/"


def create_admin(username: str, email: str, password: str) -> Any:
    """The first superuser, or :class:`SetupClosed` when a user exists by now."""
    users = get_user_model().objects
    with transaction.atomic():
        if users.select_for_update().exists():
            raise SetupClosed
        return users.create_superuser(username=username, email=email, password=password)
