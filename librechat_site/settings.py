"""Settings: the only module that reads the environment.

Every variable is read through django-environ; a value that cannot be parsed
stops start-up with ``ImproperlyConfigured`` naming the variable.  A ``.env``
file next to ``manage.py`` is read first (LibreChat keeps its settings there),
real environment variables win over it.  ``ENV_FILE`` names another file, or
none when empty: the test settings set it empty, so a developer's ``.env``
never changes a test run.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env(environ.Env):
    """django-environ's reader, remembering which variables the service itself reads."""

    read: set[str] = set()

    def get_value(self, var: str, *args: Any, **kwargs: Any) -> Any:
        self.read.add(var)
        return super().get_value(var, *args, **kwargs)


env = _Env()
#: The dotenv file read before the environment; ``ENV_FILE=`` (empty) reads none.
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)
elif ENV_FILE and "ENV_FILE" in env.ENVIRON:
    raise ImproperlyConfigured(f"ENV_FILE: there is no file {ENV_FILE!r} (leave it empty to read none)")


class Environment(Mapping[str, str]):
    """A read-only view of the process environment whose printed form shows no value: it
    is a setting, and settings are shown on Django's debug page and printed in tracebacks."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = data

    def __getitem__(self, name: str) -> str:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<the process environment: {len(self._data)} variables, values not shown>"


#: The process environment, for request-time ``${VAR}`` interpolation in endpoint
#: configuration (``endpoints.config.interpolate``; see NEVER_RESOLVED for what it refuses).
ENVIRON: Mapping[str, str] = Environment(env.ENVIRON)

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {raw!r}")


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = env.str(name, default=None)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.str(name, default=None)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number of seconds, got {raw!r}") from None
    if not value >= minimum or value == float("inf"):
        raise ImproperlyConfigured(f"{name}: must be a finite number >= {minimum}, got {raw!r}")
    return value


def _list(name: str) -> list[str] | None:
    raw = env.str(name, default=None)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = _bool("DEBUG", False)
TESTING = _bool("TESTING", False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY: not set. Set it in the environment or in .env "
            "(scripts/run writes a .env with fresh random keys)."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = _list("ALLOWED_HOSTS") or (["*"] if DEBUG or TESTING else ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS") or []

# --- HTTPS (set SECURE_HTTPS=true in production behind TLS) -------------------
SECURE_HTTPS = _bool("SECURE_HTTPS", False)
SECURE_SSL_REDIRECT = SECURE_HTTPS
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", SECURE_HTTPS)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if SECURE_HTTPS:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "channels",
    "django_ratelimit",  # its system checks vet the cache the limits count in (endpoints/limits.py)
    "endpoints",
    "usage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "librechat_site.security.ContentSecurityPolicy",
]
#: Sent with every HTML page (librechat_site/security.py); empty: none.
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)

ROOT_URLCONF = "librechat_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "librechat_site.wsgi.application"
ASGI_APPLICATION = "librechat_site.asgi.application"

# --- Database ----------------------------------------------------------------
_db_url = env.str("DATABASE_URL", default="")
if _db_url and _db_url.split(":", 1)[0] not in {"sqlite", "postgres", "postgresql", "pgsql"}:
    raise ImproperlyConfigured(
        f"DATABASE_URL: unsupported scheme in {_db_url.split(':', 1)[0]!r}; use sqlite:/// or postgres://"
    )
try:
    _db = env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
except Exception as exc:  # django-environ raises several types for bad URLs
    raise ImproperlyConfigured(f"DATABASE_URL: cannot parse it ({exc})") from None
if not _db.get("ENGINE"):
    raise ImproperlyConfigured("DATABASE_URL: unsupported scheme (use sqlite:/// or postgres://)")
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions and a busy timeout keep concurrent writers from
    # failing with "database is locked"; WAL lets readers go on meanwhile.
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Keep connections: the chat consumers close "old" connections after every
    # request, and reopening SQLite (and re-running the PRAGMAs) each time costs
    # more than the query.
    _db["CONN_MAX_AGE"] = None
else:
    _db["CONN_MAX_AGE"] = _int("DB_CONN_MAX_AGE", 300)
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES: dict[str, dict[str, Any]] = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and channel layer -------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL: expected redis://host:port/db, got {REDIS_URL!r}")
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="lc"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "lc"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth, REST --------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "endpoints.auth.drf.BearerOrTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # The API speaks JSON (as LibreChat's clients do); other bodies are 415 unsupported_media_type.
    "DEFAULT_PARSER_CLASSES": ["endpoints.api.parsers.JSONBodyParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "endpoints.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI 3.1 at /api/schema/, Swagger UI at /api/docs/ (endpoints/api/openapi/).
SPECTACULAR_SETTINGS = {
    "TITLE": "LibreChat-compatible endpoints & models service",
    "DESCRIPTION": "LibreChat's Endpoints API (/api/endpoints, /api/models, /api/keys), chat with streaming "
    "(/api/chat), usage, personal API tokens, and an OpenAI-compatible gateway (/v1). Authenticate with "
    "`Authorization: Bearer <token>` (make one on /tokens/) or a signed-in session. Every error is "
    '`{"type", "message", …}` (the components named *Error); /v1 answers OpenAI\'s `{"error": {…}}`.',
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "tryItOutEnabled": False},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.openapi.postprocess"],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Served by WhiteNoise: compressed, with far-future cache headers on hashed names.
# In development and tests it serves straight from the apps' static folders.
WHITENOISE_USE_FINDERS = DEBUG or TESTING
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- LibreChat configuration -------------------------------------------------
CONFIG_PATH = env.str("CONFIG_PATH", default="")
DEFAULT_CONFIG_PATH = BASE_DIR / "librechat.yaml"
SHIPPED_CONFIG_PATH = BASE_DIR / "fixtures" / "librechat.yaml"
SEED_ON_START = _bool("SEED_ON_START", False)

#: LibreChat's endpoint variables, as read at start-up.  Secrets among them are
#: never copied into the database: seeding stores ``${NAME}`` references.
LIBRECHAT_ENDPOINT_VARS: dict[str, str | None] = {
    name: env.str(name, default=None)
    for name in (
        "ENDPOINTS",
        "OPENAI_API_KEY",
        "OPENAI_MODELS",
        "OPENAI_REVERSE_PROXY",
        "OPENAI_ORGANIZATION",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_MODELS",
        "ANTHROPIC_REVERSE_PROXY",
        "GOOGLE_KEY",
        "GOOGLE_MODELS",
        "GOOGLE_REVERSE_PROXY",
        "ASSISTANTS_API_KEY",
        "ASSISTANTS_BASE_URL",
        "ASSISTANTS_MODELS",
    )
}

#: Keys that encrypt stored secrets, newest first (Fernet keys or LibreChat's
#: 64-hex-character CREDS_KEY).  Never derived from SECRET_KEY.
CREDS_KEYS = _list("CREDS_KEY") or []
for _position, _key in enumerate(CREDS_KEYS, start=1):
    _hex = len(_key) == 64 and all(c in "0123456789abcdefABCDEF" for c in _key)
    _fernet = len(_key) == 44 and _key.endswith("=")
    if not (_hex or _fernet):
        raise ImproperlyConfigured(f"CREDS_KEY: entry {_position} is neither a Fernet key nor 64 hex characters")
if not CREDS_KEYS and not (DEBUG or TESTING):
    raise ImproperlyConfigured(
        "CREDS_KEY: not set. It encrypts stored API keys; generate one with "
        "`python -c 'import secrets; print(secrets.token_hex(32))'`."
    )

# --- Upstream calls ----------------------------------------------------------
UPSTREAM_CONNECT_TIMEOUT = _float("UPSTREAM_CONNECT_TIMEOUT", 10.0)
UPSTREAM_FIRST_TOKEN_TIMEOUT = _float("UPSTREAM_FIRST_TOKEN_TIMEOUT", 60.0)
UPSTREAM_IDLE_TIMEOUT = _float("UPSTREAM_IDLE_TIMEOUT", 30.0)
UPSTREAM_MAX_CONNECTIONS = _int("UPSTREAM_MAX_CONNECTIONS", 1000, minimum=1)
#: What one upstream answer may take before it is cut off with an error event (usage is still
#: recorded): its whole duration, and the bytes of its body (or of a model or assistant list).
UPSTREAM_MAX_SECONDS = _float("UPSTREAM_MAX_SECONDS", 600.0, minimum=1.0)
UPSTREAM_MAX_BYTES = _int("UPSTREAM_MAX_BYTES", 16 * 1024 * 1024, minimum=64 * 1024)
#: The most model ids a fetched model list may hold (the rest are dropped, with a warning).
MODELS_FETCH_MAX = _int("MODELS_FETCH_MAX", 5000, minimum=1)
MODELS_FETCH_TTL = _int("MODELS_FETCH_TTL", 120)
#: The largest request body (and WebSocket message) the chat paths read, in bytes: past it, 413
#: (an error event on a WebSocket).  Images travel as data URLs inside the JSON.
REQUEST_MAX_BYTES = _int("REQUEST_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)

# --- Limits (LibreChat's variables and defaults) -----------------------------
LIMIT_MESSAGE_IP = _bool("LIMIT_MESSAGE_IP", True)
MESSAGE_IP_MAX = _int("MESSAGE_IP_MAX", 40, minimum=1)
MESSAGE_IP_WINDOW = _int("MESSAGE_IP_WINDOW", 1, minimum=1)  # minutes, as in LibreChat
LIMIT_MESSAGE_USER = _bool("LIMIT_MESSAGE_USER", False)
MESSAGE_USER_MAX = _int("MESSAGE_USER_MAX", 40, minimum=1)
MESSAGE_USER_WINDOW = _int("MESSAGE_USER_WINDOW", 1, minimum=1)
LIMIT_CONCURRENT_MESSAGES = _bool("LIMIT_CONCURRENT_MESSAGES", True)
CONCURRENT_MESSAGE_MAX = _int("CONCURRENT_MESSAGE_MAX", 2, minimum=1)
#: A concurrency slot is a lease for this many seconds, renewed while the chat runs, so the
#: slots of a killed worker free themselves within this time (endpoints/limits/slots.py).
CONCURRENT_LEASE_SECONDS = _int("CONCURRENT_LEASE_SECONDS", 60, minimum=2)
#: A budget hold is a lease for this many seconds, renewed while its chat runs: the hold of a
#: killed worker lapses within it and is given back, charging what was streamed.
BUDGET_LEASE_SECONDS = _int("BUDGET_LEASE_SECONDS", 120, minimum=2)
#: How budgets and balances count a model with no known price: ``estimate`` at the prices below
#: (the default: a budgeted user cannot spend without limit), ``refuse`` it (402) where a budget
#: or balance applies, or ``allow`` it as free (the usage record says "cost unknown" in every case).
UNPRICED_MODELS = env.str("UNPRICED_MODELS", default="estimate")
if UNPRICED_MODELS not in ("estimate", "refuse", "allow"):
    raise ImproperlyConfigured(f"UNPRICED_MODELS: expected estimate, refuse or allow, got {UNPRICED_MODELS!r}")
UNPRICED_PROMPT_PRICE = _float("UNPRICED_PROMPT_PRICE", 10.0)  # USD per 1M prompt tokens
UNPRICED_COMPLETION_PRICE = _float("UNPRICED_COMPLETION_PRICE", 30.0)  # USD per 1M completion tokens
#: While a chat streams, its usage row's running count is written this often (what a killed
#: worker had streamed is then charged, not lost).
USAGE_PROGRESS_SECONDS = _float("USAGE_PROGRESS_SECONDS", 10.0, minimum=0.5)
#: What a chat must pass before it goes upstream, in this order (core/admission.py): each is an
#: async callable given the request's Ticket that refuses with the contract's error or returns a
#: hold the chat settles when it ends.
CHAT_ADMISSION_CHECKS = [
    "endpoints.limits.checks.concurrency",
    "endpoints.limits.checks.message_limits",
    "endpoints.limits.checks.target_limits",
    "usage.budgets.check.spending",
]
#: django-ratelimit counts in this cache: the shared Redis when REDIS_URL is set.  Limits fail
#: closed (503 rate_limit_unavailable) when it cannot count.
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = False
if not REDIS_URL:
    # Without Redis the service is one process by design (the channel layer is in-memory too),
    # and LocMemCache counts atomically within it; django-ratelimit flags LocMemCache only
    # because it is not shared between processes.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]


def _proxies(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for item in _list(name) or []:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network") from None
    return nets


#: Proxies whose X-Forwarded-For is believed; empty means REMOTE_ADDR only.
TRUSTED_PROXIES = _proxies("TRUSTED_PROXIES")
#: Failed sign-ins allowed per account, and per client address, within the window; then 429.
LOGIN_FAILURES_PER_ACCOUNT = _int("LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = _int("LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_WINDOW_SECONDS = _int("LOGIN_WINDOW_SECONDS", 900, minimum=1)
#: ``/metrics`` wants ``Authorization: Bearer <METRICS_TOKEN>`` when set; unset, it answers only
#: clients on this machine and signed-in staff.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOG_LEVEL = env.str("LOG_LEVEL", default="DEBUG" if DEBUG else "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # asyncio logs "Using selector: EpollSelector" at DEBUG in every process: not news.
    "loggers": {
        "httpcore2": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "aiohttp": {"level": "WARNING"},
        "asyncio": {"level": "WARNING"},
    },
}

# --- Secrets never leave ------------------------------------------------------
#: ``${VAR}`` references in endpoint configuration never resolve these: LibreChat's own sensitive
#: variables (its extractEnvVariable refuses them too) and every variable this service reads
#: itself, but for LibreChat's endpoint variables (OPENAI_API_KEY …), which exist to be sent.
NEVER_RESOLVED = frozenset(
    {"JWT_SECRET", "JWT_REFRESH_SECRET", "CREDS_KEY", "CREDS_IV", "MEILI_MASTER_KEY", "MONGO_URI", "REDIS_URI",
     "REDIS_PASSWORD"} | (env.read - set(LIBRECHAT_ENDPOINT_VARS))
)  # fmt: skip
#: The debug page (and any report of settings) masks these settings by name, beyond Django's own.
DEFAULT_EXCEPTION_REPORTER_FILTER = "librechat_site.debug.SecretsFilter"
