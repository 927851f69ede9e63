"""``manage.py service_token <username> [--name NAME]``: a service token for an app that acts for
its end users (LibreChat, Open WebUI …); prints the key once.

The account is made when it does not exist, with no usable password (nobody signs in as it); its
end users are tied to it.  An existing token is marked in admin instead (API tokens > "Mark as
service tokens").
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from endpoints.auth import personal
from endpoints.models import TokenKind


class Command(BaseCommand):
    help = "Make a service token (it may act for end users) for USERNAME, making the account if needed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The app's account, e.g. librechat (made if missing).")
        parser.add_argument("--name", default="service", help="The token's name (default: service).")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        users = get_user_model()
        user = users.objects.filter(**{users.USERNAME_FIELD: username}).first()
        if user is None:
            user = users(**{users.USERNAME_FIELD: username})
            user.set_unusable_password()
            user.save()
            self.stderr.write(f"made the account {username!r} (no password: nobody signs in as it)")
        made = personal.create(user, name)
        made.token.kind = TokenKind.SERVICE
        made.token.save(update_fields=["kind"])
        self.stderr.write(f"service token {name!r} for {username!r}; the key is shown once:")
        self.stdout.write(made.key)
