"""Admin for endpoints, Azure groups and models.

Keys: a reference (``${VAR}``) or ``user_provided`` is stored as written; a
literal key is encrypted and only its masked tail is ever shown again.  Any
save marks the row ``admin_modified`` so a later seed keeps it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from endpoints.catalog.diagnostics import test_and_remember
from endpoints.catalog.snapshot import build_snapshot
from endpoints.config.export import export
from endpoints.config.interpolate import secrets_for_any_url
from endpoints.config.routing import problems_of
from endpoints.config.seed import store_key
from endpoints.models import USER_PROVIDED, ApiToken, AzureGroup, Endpoint, EndpointModel, EndUser, Source, TokenKind
from endpoints.providers.http import from_sync

MASK_PREFIX = "stored encrypted: "


class KeyField(forms.CharField):
    widget = forms.TextInput(attrs={"autocomplete": "off", "size": 60})


class SecretForm(forms.ModelForm):
    """Shows a stored literal key as its masked tail; saving the mask keeps the key."""

    api_key = KeyField(
        required=False,
        help_text="${VAR}, user_provided, or a literal key (stored encrypted, shown masked).",
    )

    owner_prefix = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.api_key_secret:
            self.initial["api_key"] = MASK_PREFIX + (self.instance.api_key_hint or "…")

    def owner(self) -> str:
        raise NotImplementedError

    def save(self, commit: bool = True) -> Any:
        value = (self.cleaned_data.get("api_key") or "").strip()
        row = super().save(commit=False)
        if value.startswith(MASK_PREFIX) and row.api_key_secret:
            row.api_key = ""  # the mask was left as it was: keep the stored key
        else:
            store_key(row, value, self.owner())
        row.admin_modified = True
        if commit:
            row.save()
            self.save_m2m()
        return row


class EndpointForm(SecretForm):
    class Meta:
        model = Endpoint
        fields = "__all__"  # noqa: DJ007 - admin form: every editable column (admin_modified is read-only)

    def owner(self) -> str:
        return f"endpoint:{self.cleaned_data.get('name') or self.instance.name}"

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if self.instance.pk and self.instance.api_key_secret and name != self.instance.name:
            raise forms.ValidationError("Re-enter the key when renaming an endpoint with a stored key.")
        return name

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        key = str(data.get("api_key") or "").strip()
        if key.startswith(MASK_PREFIX) or (not key and self.instance.api_key_secret):
            key = "(the stored key)"
        raw = data.get("headers")
        headers = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        leak = secrets_for_any_url(key, str(data.get("base_url") or ""), headers)
        if leak:
            self.add_error("base_url", f"Not saved: {leak}")
        return data

    def clean_routing(self) -> Any:
        value = self.cleaned_data.get("routing")
        _routing_errors(value, "routing", False)
        return value

    def clean_base_url(self) -> str:
        value: str = (self.cleaned_data.get("base_url") or "").strip()
        if value and value != USER_PROVIDED and "${" not in value:
            from endpoints.netguard import UnsafeURLError, validate_admin_url

            try:
                validate_admin_url(value)
            except UnsafeURLError as exc:
                raise forms.ValidationError(str(exc)) from None
        return value


class GroupForm(SecretForm):
    class Meta:
        model = AzureGroup
        fields = "__all__"  # noqa: DJ007 - admin form: every column of the group is editable

    def owner(self) -> str:
        endpoint = self.cleaned_data.get("endpoint") or self.instance.endpoint
        return f"azure-group:{endpoint.name}:{self.cleaned_data.get('group') or self.instance.group}"


def _routing_errors(value: Any, key: str, azure: bool) -> None:
    """The yaml's rules for ``deployments`` and ``routing`` (endpoints/config/routing.py), by path."""
    problems = problems_of(value, key, azure=azure) if value not in (None, [], {}) else []
    if problems:
        raise forms.ValidationError([str(problem) for problem in problems])


class ModelForm(forms.ModelForm):
    class Meta:
        model = EndpointModel
        fields = "__all__"  # noqa: DJ007 - admin form: the admin's field list decides

    def _azure(self) -> bool:
        endpoint = self.cleaned_data.get("endpoint") or getattr(self.instance, "endpoint", None)
        return bool(endpoint and endpoint.kind == "azureOpenAI")

    def clean_deployments(self) -> Any:
        value = self.cleaned_data.get("deployments")
        _routing_errors(value, "deployments", self._azure())
        return value or []

    def clean_routing(self) -> Any:
        value = self.cleaned_data.get("routing")
        _routing_errors(value, "routing", False)
        return value


class ModelInline(admin.TabularInline):
    model = EndpointModel
    form = ModelForm
    fk_name = "endpoint"
    extra = 0
    fields = (
        "model_id", "label", "enabled", "position", "context_window", "max_output_tokens", "vision", "tools",
        "streaming", "fallbacks", "deployments", "routing", "group", "deployment_name", "api_version",
        "prompt_price", "completion_price", "cached_price", "source",
    )  # fmt: skip
    readonly_fields = ("source",)
    show_change_link = True


class GroupInline(admin.StackedInline):
    model = AzureGroup
    form = GroupForm
    extra = 0
    exclude = ("api_key_secret", "api_key_hint")


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ("name", "kind", "enabled", "key_display", "base_url", "model_count", "source", "admin_modified")
    list_filter = ("kind", "enabled", "source", "admin_modified")
    search_fields = ("name", "base_url", "models__model_id")
    inlines = (GroupInline, ModelInline)
    actions = ("test_connection", "refresh_models", "export_yaml")
    readonly_fields = ("source", "admin_modified", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Endpoint]:
        from django.db.models import Count

        return super().get_queryset(request).annotate(model_total=Count("models"))

    @admin.display(description="models")
    def model_count(self, obj: Endpoint) -> int:
        return getattr(obj, "model_total", 0)

    @admin.display(description="API key")
    def key_display(self, obj: Endpoint) -> str:
        if obj.api_key_secret:
            return f"{obj.api_key_hint} (encrypted)"
        return obj.api_key or "—"

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        if not change:
            obj.source = Source.ADMIN
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, EndpointModel):
                instance.admin_modified = True
                if instance._state.adding:
                    instance.source = Source.ADMIN
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()

    def _for_each_enabled(self, request: HttpRequest, queryset: QuerySet[Endpoint], action: Any) -> None:
        """Run an async ``action(EndpointInfo)`` (returning ``.ok`` and ``.message``) per selected endpoint."""
        snapshot = build_snapshot()
        for endpoint in queryset:
            info = snapshot.get(endpoint.name)
            if info is None:
                self.message_user(request, f"{endpoint.name}: not enabled or has no key", messages.WARNING)
                continue
            result = from_sync(action)(info)
            self.message_user(
                request, f"{endpoint.name}: {result.message}", messages.SUCCESS if result.ok else messages.ERROR
            )

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        self._for_each_enabled(request, queryset, test_and_remember)

    @admin.action(description="Refresh models from upstream")
    def refresh_models(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        from endpoints.catalog.modelfetch import refresh_endpoint_models

        self._for_each_enabled(request, queryset, refresh_endpoint_models)

    @admin.action(description="Export as librechat.yaml")
    def export_yaml(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> HttpResponse:
        result = export()
        response = HttpResponse(result.to_yaml(), content_type="application/yaml")
        response["Content-Disposition"] = 'attachment; filename="librechat.yaml"'
        for warning in result.warnings:
            self.message_user(request, warning, messages.WARNING)
        return response


@admin.register(EndpointModel)
class EndpointModelAdmin(admin.ModelAdmin):
    form = ModelForm
    list_display = ("model_id", "endpoint", "enabled", "context_window", "vision", "tools", "source")
    list_filter = ("endpoint", "enabled", "vision", "tools", "source")
    search_fields = ("model_id", "label", "endpoint__name")
    readonly_fields = ("source", "overrides")

    def save_model(self, request: HttpRequest, obj: EndpointModel, form: Any, change: bool) -> None:
        obj.admin_modified = True
        if not change:
            obj.source = Source.ADMIN
        super().save_model(request, obj, form, change)


# --- API tokens: only masked, never their keys ------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Personal tokens are made by their owners on /tokens/ (the key is shown to them once)."""

    list_display = ("name", "user", "masked", "kind", "created_at", "last_used_at", "expires_at", "state")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "user__username")
    fields = ("user", "name", "kind", "masked", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = ("user", "kind", "masked", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke", "mark_service", "mark_personal")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="token")
    def masked(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        from endpoints.auth.personal import revoke_all

        count = revoke_all(queryset)
        self.message_user(request, f"Revoked {count} token(s); they stop working within seconds.", messages.SUCCESS)

    def _mark(self, request: HttpRequest, queryset: QuerySet[ApiToken], kind: str) -> int:
        if not request.user.is_superuser:  # a service token makes users: only a superuser may allow it
            self.message_user(request, "Only a superuser may change what a token may do.", messages.ERROR)
            return 0
        count = 0
        for token in queryset.exclude(kind=kind):
            token.kind = kind
            token.save(update_fields=["kind"])  # the signal evicts the cached token: seen within seconds
            count += 1
        return count

    @admin.action(description="Mark as service tokens (may act for end users)")
    def mark_service(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        if count := self._mark(request, queryset, TokenKind.SERVICE):
            self.message_user(request, f"{count} token(s) may now act for end users (X-End-User-Id, X-End-User-Email, "
                              "or the body's user).", messages.SUCCESS)  # fmt: skip

    @admin.action(description="Mark as personal tokens (act as their owner only)")
    def mark_personal(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        if count := self._mark(request, queryset, TokenKind.PERSONAL):
            self.message_user(request, f"{count} token(s) now act as their owner only.", messages.SUCCESS)


@admin.register(EndUser)
class EndUserAdmin(admin.ModelAdmin):
    """The people service tokens act for: made on first sight, never here."""

    list_display = ("user", "service_owner", "external_id", "email", "active", "created_at")
    list_filter = ("user__is_active", "created_at")  # owners: by search (a filter would list every user)
    search_fields = ("external_id", "email", "user__username", "service_owner__username")
    fields = ("user", "service_owner", "external_id", "email", "created_at")
    readonly_fields = fields
    list_select_related = ("user", "service_owner")
    actions = ("deactivate", "reactivate")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description="active")
    def active(self, obj: EndUser) -> bool:
        return bool(obj.user.is_active)

    def _set_active(self, queryset: QuerySet[EndUser], active: bool) -> int:
        count = 0
        for row in queryset.select_related("user"):
            if row.user.is_active != active:
                row.user.is_active = active
                row.user.save(update_fields=["is_active"])  # the signal evicts the cached end user
                count += 1
        return count

    @admin.action(description="Deactivate: refuse their chats")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[EndUser]) -> None:
        count = self._set_active(queryset, False)
        self.message_user(request, f"Deactivated {count} end user(s); their chats are refused within seconds.")

    @admin.action(description="Reactivate")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[EndUser]) -> None:
        self.message_user(request, f"Reactivated {self._set_active(queryset, True)} end user(s).")


def _mask_drf_tokens() -> None:
    """DRF's token admin lists keys in clear: show their first characters only."""
    from rest_framework.authtoken.admin import TokenAdmin
    from rest_framework.authtoken.models import TokenProxy

    class MaskedTokenAdmin(TokenAdmin):
        list_display = ("masked", "user", "created")

        @admin.display(description="key")
        def masked(self, obj: Any) -> str:
            return f"{obj.key[:4]}…"

    if admin.site.is_registered(TokenProxy):
        admin.site.unregister(TokenProxy)
    admin.site.register(TokenProxy, MaskedTokenAdmin)


_mask_drf_tokens()
