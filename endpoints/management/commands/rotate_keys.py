"""Re-encrypt every stored secret under the newest CREDS_KEY.

Rotation: put the new key first in CREDS_KEY (``CREDS_KEY=new,old``), restart, run
``manage.py rotate_keys``, then drop the old key.  Covers users' keys (``UserKey``) and literal
keys typed in admin (``Endpoint`` / ``AzureGroup.api_key_secret``).  Safe to re-run: rows
already under the newest key are only checked.  A row that cannot be decrypted (damaged,
bound to another record, or encrypted with a key no longer listed) is reported and left as
it is, and the command exits non-zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Model

from core import secrets
from endpoints.catalog.snapshot import bump_version
from endpoints.config.seed import secret_context
from endpoints.keys.store import context as userkey_context
from endpoints.models import AzureGroup, Endpoint, UserKey


@dataclass
class Tally:
    rotated: int = 0
    current: int = 0
    failed: list[str] = field(default_factory=list)


def _secrets() -> Iterator[tuple[str, Model, str, str, str]]:
    """(kind, row, field name, token, context) for every stored secret."""
    for key in UserKey.objects.order_by("pk").iterator():
        yield "user keys", key, "ciphertext", key.ciphertext, userkey_context(key.user_id, key.endpoint)
    for endpoint in Endpoint.objects.exclude(api_key_secret="").order_by("pk").iterator():
        context = secret_context(f"endpoint:{endpoint.name}")
        yield "endpoint keys", endpoint, "api_key_secret", endpoint.api_key_secret, context
    groups = AzureGroup.objects.exclude(api_key_secret="").select_related("endpoint").order_by("pk")
    for group in groups.iterator():
        context = secret_context(f"azure-group:{group.endpoint.name}:{group.group}")
        yield "azure group keys", group, "api_key_secret", group.api_key_secret, context


class Command(BaseCommand):
    help = "Re-encrypt every stored secret (users' keys, admin-entered keys) under the newest CREDS_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        tallies: dict[str, Tally] = {"user keys": Tally(), "endpoint keys": Tally(), "azure group keys": Tally()}
        config_changed = False
        for kind, row, name, token, context in _secrets():
            tally = tallies[kind]
            label = f"{type(row).__name__} #{row.pk} ({row})"
            try:
                if not secrets.needs_rotation(token):
                    secrets.decrypt(token, context=context)  # current, but is it this row's?
                    tally.current += 1
                    continue
                fresh = secrets.rotate(token, context=context)
            except secrets.SecretError as exc:
                tally.failed.append(f"{label}: {exc.reason}")
                continue
            # Compare-and-swap: a key replaced meanwhile is not overwritten with the old value.
            if type(row)._default_manager.filter(pk=row.pk, **{name: token}).update(**{name: fresh}):
                tally.rotated += 1
                config_changed = config_changed or kind != "user keys"
            else:
                tally.current += 1
        if config_changed:
            bump_version()  # cached config snapshots hold the old ciphertexts
        failed = 0
        for kind, tally in tallies.items():
            self.stdout.write(
                f"{kind}: {tally.rotated} re-encrypted, {tally.current} already current, {len(tally.failed)} unreadable"
            )
            for line in tally.failed:
                self.stderr.write(f"  unreadable, left unchanged: {line}")
            failed += len(tally.failed)
        if failed:
            raise CommandError(
                f"{failed} stored secret(s) could not be decrypted with any CREDS_KEY and were left unchanged; "
                "restore the key they were encrypted with (add it to CREDS_KEY) or have them re-entered."
            )
