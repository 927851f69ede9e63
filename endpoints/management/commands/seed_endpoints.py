"""python manage.py seed_endpoints [PATH] [--dry-run] [--overwrite] [--prune]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from endpoints.config import ConfigError, config_path, load_config
from endpoints.config.seed import apply


class Command(BaseCommand):
    help = "Validate librechat.yaml and the environment, then apply them to the endpoint tables in one transaction."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="librechat.yaml (default: CONFIG_PATH, ./librechat.yaml, shipped)")
        parser.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
        parser.add_argument("--overwrite", action="store_true", help="also replace rows edited in admin")
        parser.add_argument("--prune", action="store_true", help="remove endpoints no longer configured")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["path"] or str(config_path())
        try:
            config = load_config(path)
        except ConfigError as exc:
            for problem in exc.problems:
                self.stderr.write(f"{path}: {problem}")
            raise CommandError(f"{len(exc.problems)} problem(s) in {path}; nothing was changed.") from None
        for warning in config.warnings:
            self.stderr.write(f"warning: {warning}")
        report = apply(config, overwrite=options["overwrite"], prune=options["prune"], dry_run=options["dry_run"])
        for line in report.kept:
            self.stdout.write(line)
        for line in report.changes:
            self.stdout.write(("would: " if options["dry_run"] else "") + line)
        self.stdout.write(self.style.SUCCESS(summary(path, len(report.changes), dry_run=options["dry_run"])))


def summary(path: str, count: int, *, dry_run: bool) -> str:
    """``fixtures/librechat.yaml: 5 changes applied`` (or ``would be applied``; ``already up to date``)."""
    if count == 0:
        return f"{path}: 0 changes, the endpoints already match it"
    noun = "change" if count == 1 else "changes"
    return f"{path}: {count} {noun} {'would be applied (dry run: nothing changed)' if dry_run else 'applied'}"
