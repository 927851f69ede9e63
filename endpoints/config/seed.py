"""Validated specs -> rows, in one transaction, idempotently.

Rows keep their ids across seeds (updated in place).  Rows edited in admin
(``admin_modified``) are kept unless ``overwrite``; rows created in admin are
never removed.  ``dry_run`` does all the work and rolls it back, so the report
is exactly what a real run would change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from core import secrets
from endpoints.config.specs import ConfigSpec, EndpointSpec, GroupSpec, ModelSpec
from endpoints.models import USER_PROVIDED, AzureGroup, ConfigState, Endpoint, EndpointModel, Source

ENDPOINT_FIELDS = (
    "kind",
    "wire",
    "base_url",
    "organization",
    "headers",
    "add_params",
    "drop_params",
    "models_fetch",
    "user_id_query",
    "model_display_label",
    "icon_url",
    "capabilities",
    "version",
    "retrieval_models",
    "disable_builder",
    "supported_ids",
    "excluded_ids",
    "private_assistants",
    "poll_interval_ms",
    "timeout_ms",
    "rate_limit",
    "fallbacks",
    "routing",
    "extra",
    "source",
    "position",
)
GROUP_FIELDS = (
    "position",
    "instance_name",
    "deployment_name",
    "version",
    "base_url",
    "serverless",
    "assistants",
    "headers",
    "add_params",
    "drop_params",
    "extra",
)
MODEL_FIELDS = (
    "label",
    "context_window",
    "max_output_tokens",
    "vision",
    "tools",
    "streaming",
    "fallbacks",
    "rate_limit",
    "deployments",
    "routing",
    "deployment_name",
    "api_version",
    "prompt_price",
    "completion_price",
    "cached_price",
    "overrides",
    "source",
    "position",
)


@dataclass
class SeedReport:
    changes: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        self.changes.append(message)


class _DryRunRollback(Exception):
    pass


def apply(config: ConfigSpec, *, overwrite: bool = False, prune: bool = False, dry_run: bool = False) -> SeedReport:
    report = SeedReport()
    try:
        with transaction.atomic():
            seeded = set()
            for spec in config.endpoints:
                _apply_endpoint(spec, report, overwrite=overwrite)
                seeded.add(spec.name)
            if prune:
                stale = Endpoint.objects.exclude(name__in=seeded).exclude(source=Source.ADMIN)
                for endpoint in stale:
                    report.note(f"removed endpoint {endpoint.name} (no longer configured)")
                    endpoint.delete()
            from endpoints.config.balance import apply_balance_settings

            apply_balance_settings(config.balance, report, overwrite=overwrite)
            _apply_version(config.version, report)
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    return report


def _apply_version(version: str, report: SeedReport) -> None:
    """Remember the file's ``version:`` for export_endpoints."""
    state = ConfigState.objects.select_for_update().filter(pk=1).first()
    if state is None or state.version != version:
        ConfigState.objects.update_or_create(pk=1, defaults={"version": version})
        report.note(f"recorded librechat.yaml version {version}")


def secret_context(owner: str) -> str:
    return f"config-secret:{owner}"


def store_key(row: Endpoint | AzureGroup, value: str, owner: str) -> bool:
    """Put an API key on a row: references as they are, literals encrypted. True if it changed."""
    literal = bool(value) and value != USER_PROVIDED and "${" not in value
    if not literal:
        changed = row.api_key != value or bool(row.api_key_secret)
        row.api_key, row.api_key_secret, row.api_key_hint = value, "", ""
        return changed
    if row.api_key_secret:
        try:
            same = secrets.decrypt(row.api_key_secret, context=secret_context(owner)) == value
        except secrets.SecretError:
            same = False  # unreadable: replace it
        if same:
            changed = row.api_key != ""
            row.api_key = ""
            return changed
    row.api_key = ""
    row.api_key_secret = secrets.encrypt(value, context=secret_context(owner))
    row.api_key_hint = secrets.mask(value)
    return True


def _assign(row: Any, spec: Any, fields: tuple[str, ...]) -> list[str]:
    changed = []
    for name in fields:
        value = getattr(spec, name)
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def _apply_endpoint(spec: EndpointSpec, report: SeedReport, *, overwrite: bool) -> None:
    row = Endpoint.objects.filter(name=spec.name).first()
    if row is not None and row.admin_modified and not overwrite:
        report.kept.append(f"kept endpoint {spec.name}: edited in admin (use --overwrite to replace)")
        return
    created = row is None
    if row is None:
        row = Endpoint(name=spec.name)
    changed = _assign(row, spec, ENDPOINT_FIELDS)
    if store_key(row, spec.api_key, f"endpoint:{spec.name}"):
        changed.append("api_key")
    if overwrite and row.admin_modified:
        row.admin_modified = False
        changed.append("admin_modified")
    if created or changed:
        row.save()
        report.note(
            f"created endpoint {spec.name}" if created else f"updated endpoint {spec.name}: {', '.join(changed)}"
        )
    groups = {g.group: _apply_group(row, g, report, overwrite=overwrite) for g in spec.groups}
    _apply_models(row, spec.models, groups, report, overwrite=overwrite)
    stale_groups = row.groups.exclude(group__in=[g.group for g in spec.groups])
    for group in stale_groups:
        report.note(f"removed group {spec.name}/{group.group}")
        group.delete()


def _apply_group(endpoint: Endpoint, spec: GroupSpec, report: SeedReport, *, overwrite: bool) -> AzureGroup:
    row = AzureGroup.objects.filter(endpoint=endpoint, group=spec.group).first()
    created = row is None
    if row is None:
        row = AzureGroup(endpoint=endpoint, group=spec.group)
    changed = _assign(row, spec, GROUP_FIELDS)
    if store_key(row, spec.api_key, f"azure-group:{endpoint.name}:{spec.group}"):
        changed.append("api_key")
    if created or changed:
        row.save()
        report.note(f"{'created' if created else 'updated'} group {endpoint.name}/{spec.group}")
    return row


def _apply_models(
    endpoint: Endpoint,
    specs: list[ModelSpec],
    groups: dict[str, AzureGroup],
    report: SeedReport,
    *,
    overwrite: bool,
) -> None:
    existing = {m.model_id: m for m in endpoint.models.all()}
    if endpoint.kind == "azureAssistants" and not groups:
        groups = {g.group: g for g in AzureGroup.objects.filter(endpoint__name="azureOpenAI")}
    new_rows: list[EndpointModel] = []
    for position, spec in enumerate(specs):
        spec.position = position
        row = existing.pop(spec.model_id, None)
        if row is not None and row.admin_modified and not overwrite:
            report.kept.append(f"kept model {endpoint.name}/{spec.model_id}: edited in admin")
            continue
        created = row is None
        if row is None:
            row = EndpointModel(endpoint=endpoint, model_id=spec.model_id)
        changed = _assign(row, spec, MODEL_FIELDS)
        group = groups.get(spec.group) if spec.group else None
        if row.group_id != (group.pk if group else None):
            row.group = group
            changed.append("group")
        if overwrite and row.admin_modified:
            row.admin_modified = False
            changed.append("admin_modified")
        if created:
            new_rows.append(row)
            report.note(f"added model {endpoint.name}/{spec.model_id}")
        elif changed:
            row.save()
            report.note(f"updated ({', '.join(changed)}) model {endpoint.name}/{spec.model_id}")
    if new_rows:
        # One insert for an endpoint's new models (LibreChat's default lists run to dozens),
        # and one "configuration changed" signal for them, as a save would send.
        EndpointModel.objects.bulk_create(new_rows)
        post_save.send(sender=EndpointModel, instance=new_rows[0], created=True, raw=False, using=None)
    for row in existing.values():
        if row.source in (Source.ADMIN, Source.FETCHED) and not overwrite:
            continue
        report.note(f"removed model {endpoint.name}/{row.model_id} (no longer configured)")
        row.delete()
