"""python manage.py setup_link [--base-url URL]: the one-time link that creates the first admin."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from endpoints.auth import setup


class Command(BaseCommand):
    help = "While no user exists, print the link that creates the first admin (valid until used)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the service is reached")

    def handle(self, *args: Any, **options: Any) -> None:
        if not setup.needed():
            self.stdout.write("Users exist: sign in at /accounts/login/ (setup links work only on an empty database).")
            return
        url = options["base_url"].rstrip("/") + setup.path()
        self.stdout.write(self.style.SUCCESS(f"Create the first admin here (valid until used): {url}"))
