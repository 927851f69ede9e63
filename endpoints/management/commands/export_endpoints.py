"""python manage.py export_endpoints [-o FILE] [--include-secrets]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from endpoints.config.export import export


class Command(BaseCommand):
    help = "Write the current endpoint configuration as a librechat.yaml (stdout, or -o FILE)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-o", "--output", help="write to this file instead of stdout")
        parser.add_argument(
            "--include-secrets", action="store_true", help="write literal keys stored in admin (they are secrets)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = export(include_secrets=options["include_secrets"])
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        text = result.to_yaml()
        if options["output"]:
            Path(options["output"]).write_text(text)
            self.stderr.write(f"wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")
