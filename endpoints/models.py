"""Endpoints, Azure groups and models: the configuration every request runs on.

Rows are seeded from librechat.yaml and the environment (``seed_endpoints``)
and edited in admin.  Secrets are stored as references (``${OPENAI_API_KEY}``,
``user_provided``) resolved at request time; a literal key typed in admin is
kept encrypted in ``api_key_secret`` and never shown whole.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.validators import validate_price


class EndpointKind(models.TextChoices):
    OPENAI = "openAI", "OpenAI"
    AZURE_OPENAI = "azureOpenAI", "Azure OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GOOGLE = "google", "Google Gemini"
    CUSTOM = "custom", "Custom (OpenAI-compatible)"
    ASSISTANTS = "assistants", "OpenAI Assistants"
    AZURE_ASSISTANTS = "azureAssistants", "Azure Assistants"


#: LibreChat's built-in endpoint names; a custom endpoint may not take one.
BUILTIN_NAMES = frozenset(
    {"openAI", "azureOpenAI", "anthropic", "google", "assistants", "azureAssistants", "agents", "bedrock"}
)


class Source(models.TextChoices):
    DEFAULT = "default", "LibreChat default"
    ENV = "env", "environment variable"
    YAML = "yaml", "librechat.yaml"
    FETCHED = "fetched", "fetched from upstream"
    ADMIN = "admin", "admin"


class Wire(models.TextChoices):
    """Which wire protocol a custom endpoint speaks (LibreChat's ``provider``)."""

    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic Messages"


USER_PROVIDED = "user_provided"


class SecretFields(models.Model):
    """An API key reference plus, when typed literally in admin, its ciphertext."""

    api_key = models.CharField(
        max_length=500,
        blank=True,
        help_text="A reference such as ${OPENAI_API_KEY}, or user_provided. "
        "A literal key typed here is encrypted and replaced by a masked placeholder.",
    )
    api_key_secret = models.TextField(blank=True, editable=False)
    api_key_hint = models.CharField(max_length=16, blank=True, editable=False)

    class Meta:
        abstract = True

    @property
    def user_provides_key(self) -> bool:
        return self.api_key == USER_PROVIDED


class Endpoint(SecretFields):
    name = models.CharField(max_length=100, unique=True, help_text="The key in the API: openAI, anthropic, groq …")
    kind = models.CharField(max_length=20, choices=EndpointKind.choices)
    wire = models.CharField(max_length=20, choices=Wire.choices, default=Wire.OPENAI)
    enabled = models.BooleanField(default=True)
    base_url = models.CharField(max_length=2000, blank=True, help_text="May hold ${VAR} or user_provided.")
    organization = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    add_params = models.JSONField(default=dict, blank=True)
    drop_params = models.JSONField(default=list, blank=True)
    models_fetch = models.BooleanField(default=False, help_text="List models from GET {baseURL}/models.")
    user_id_query = models.BooleanField(default=False)
    model_display_label = models.CharField(max_length=200, blank=True)
    icon_url = models.CharField(max_length=2000, blank=True)
    # Assistants settings (assistants / azureAssistants)
    capabilities = models.JSONField(null=True, blank=True)
    version = models.CharField(max_length=20, blank=True)
    retrieval_models = models.JSONField(null=True, blank=True)
    disable_builder = models.BooleanField(default=False)
    supported_ids = models.JSONField(null=True, blank=True)
    excluded_ids = models.JSONField(null=True, blank=True)
    private_assistants = models.BooleanField(default=False)
    poll_interval_ms = models.PositiveIntegerField(null=True, blank=True)
    timeout_ms = models.PositiveIntegerField(null=True, blank=True)
    # Extensions (LibreChat ignores these keys inside an endpoint item)
    rate_limit = models.JSONField(
        null=True, blank=True, help_text='{"requests": 60, "tokens": 100000, "windowSeconds": 60}'
    )
    fallbacks = models.JSONField(default=list, blank=True, help_text='["endpoint/model", …] for every model here')
    routing = models.JSONField(
        null=True,
        blank=True,
        help_text='Every model\'s routing here: {"strategy": "least-busy", "cooldownSeconds": 30, …}',
    )
    # Other LibreChat keys of the item (titleConvo, titleModel, …), kept for export.
    extra = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    admin_modified = models.BooleanField(
        default=False, help_text="Edited in admin: a later seed keeps it unless run with --overwrite."
    )
    position = models.PositiveIntegerField(default=0, help_text="Order among custom endpoints in the yaml.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def user_provides_url(self) -> bool:
        return self.base_url == USER_PROVIDED


class AzureGroup(SecretFields):
    """One group of ``endpoints.azureOpenAI.groups``: an Azure resource or a serverless deployment."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="groups")
    group = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    instance_name = models.CharField(max_length=200, blank=True)
    deployment_name = models.CharField(max_length=200, blank=True)
    version = models.CharField(max_length=50, blank=True)
    base_url = models.CharField(max_length=2000, blank=True)
    serverless = models.BooleanField(default=False)
    assistants = models.BooleanField(default=False)
    headers = models.JSONField(default=dict, blank=True, help_text="LibreChat's additionalHeaders")
    add_params = models.JSONField(default=dict, blank=True)
    drop_params = models.JSONField(default=list, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position", "group"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "group"], name="unique_group_per_endpoint")]

    def __str__(self) -> str:
        return self.group


class EndpointModel(models.Model):
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="models")
    model_id = models.CharField(max_length=255, help_text="The upstream's model id (Azure: the visible model name).")
    label = models.CharField(max_length=255, blank=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    vision = models.BooleanField(default=False)
    tools = models.BooleanField(default=True)
    streaming = models.BooleanField(default=True)
    fallbacks = models.JSONField(default=list, blank=True, help_text='["endpoint/model", …] tried in order')
    rate_limit = models.JSONField(null=True, blank=True)
    deployments = models.JSONField(
        default=list,
        blank=True,
        help_text='Equivalent targets: [{"name": "eu", "target": "endpoint/model", "weight": 2}, …]',
    )
    routing = models.JSONField(null=True, blank=True, help_text='{"strategy": "weighted-random", "allowedFails": 3, …}')
    # Azure: which group serves it, and the per-model deployment mapping.
    group = models.ForeignKey(AzureGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="models")
    deployment_name = models.CharField(max_length=200, blank=True)
    api_version = models.CharField(max_length=50, blank=True)
    # Price overrides, USD per 1M tokens; empty means "use the genai-prices catalog".
    prompt_price = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, validators=[validate_price]
    )
    completion_price = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, validators=[validate_price]
    )
    cached_price = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, validators=[validate_price]
    )
    # Set per model in yaml or admin; kept for export.
    overrides = models.JSONField(default=dict, blank=True, editable=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    admin_modified = models.BooleanField(default=False)

    class Meta:
        ordering = ["endpoint", "position", "model_id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "model_id"], name="unique_model_per_endpoint")]

    def __str__(self) -> str:
        return f"{self.endpoint.name}/{self.model_id}"


class UserKey(models.Model):
    """A user's own key (and base URL) for a ``user_provided`` endpoint, as LibreChat's ``Key``.

    ``ciphertext`` holds the value in LibreChat's format, encrypted by ``endpoints.secrets`` with
    the context ``userkey:<user id>:<endpoint>``; ``hint`` is its masked tail (``…a1b2``).
    ``expires_at`` empty means the key never expires.  See ``endpoints.userkeys``.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="endpoint_keys")
    endpoint = models.CharField(max_length=100, help_text="The endpoint's name, as in /api/endpoints.")
    ciphertext = models.TextField(editable=False)
    hint = models.CharField(max_length=16, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "endpoint"]
        constraints = [models.UniqueConstraint(fields=["user", "endpoint"], name="unique_key_per_user_endpoint")]

    def __str__(self) -> str:
        return f"{self.endpoint} key of user {self.user_id}"


class AssistantThread(models.Model):
    """Who started an Assistants thread here: only they may continue it."""

    thread_id = models.CharField(max_length=100, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assistant_threads")
    endpoint = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.thread_id


class TokenKind(models.TextChoices):
    """What a token may do. A personal token acts as its owner; a service token (marked by an
    admin) may also act for the end users of the app that holds it (``endpoints.auth.endusers``)."""

    PERSONAL = "personal", "personal"
    SERVICE = "service", "service: may act for end users"


class ApiToken(models.Model):
    """A named API token (``Authorization: Bearer lcp_…``), as ``endpoints.auth.tokens`` resolves it.

    Only the SHA-256 of the key is stored (the key is shown once, when it is made); ``prefix``
    is its first characters, enough to recognise it.  A revoked or expired token stops
    working within the delay documented in ``endpoints.auth.tokens``.  ``last_used_at`` is
    written at most once a minute per token, off the response path.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    kind = models.CharField(max_length=20, choices=TokenKind.choices, default=TokenKind.PERSONAL)
    name = models.CharField(max_length=100, help_text="What it is for, e.g. 'laptop' or 'CI'.")
    prefix = models.CharField(max_length=16, editable=False, help_text="The key's first characters.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_revoked")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def state(self) -> str:
        """``active``, ``expired`` or ``revoked``."""
        from django.utils import timezone

        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class ConfigState(models.Model):
    """What the last seed read from librechat.yaml that belongs to no endpoint (one row, pk 1):
    its ``version``, which ``export_endpoints`` writes back."""

    version = models.CharField(max_length=50, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"librechat.yaml version {self.version}"


class EndUser(models.Model):
    """A person an app acts for with a service token: found by (the token owner, the id the app
    knows them by), or by email when the app sends no id; never by a username.

    ``user`` is an ordinary Django user made for them (an unusable password: nobody signs in as
    them), so limits, budgets, balances and usage rows apply to them as to anyone; its username
    is ``<owner>~<label>``, a form no sign-up or admin form accepts (``~`` is not allowed in
    usernames), so it never collides with a real account.  Deactivating ``user`` refuses their chats.
    """

    service_owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                      related_name="end_users", help_text="Who holds the service token.")  # fmt: skip
    external_id = models.CharField(max_length=200, blank=True, help_text="The app's id for them; empty: by email.")
    email = models.CharField(max_length=254, blank=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="end_user")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service_owner_id", "external_id", "email"]
        constraints = [
            models.UniqueConstraint(fields=["service_owner", "external_id"], condition=~models.Q(external_id=""),
                                    name="unique_end_user_id"),
            models.UniqueConstraint(fields=["service_owner", "email"], condition=models.Q(external_id=""),
                                    name="unique_end_user_email"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.external_id or self.email

    @property
    def key(self) -> tuple[str, str]:
        """How requests name them: ("id", external id) or ("email", email)."""
        return ("id", self.external_id) if self.external_id else ("email", self.email)
