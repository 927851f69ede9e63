"""The shared cache (Redis when ``REDIS_URL`` is set) as the request path sees it: what it
raises when it cannot be reached, and the answer the service then gives (fail closed)."""

from __future__ import annotations

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from core.errors import ApiError

#: What a cache backend raises when it cannot be reached: django-redis re-raises redis-py's
#: errors (ConnectionInterrupted when wrapped), plain sockets raise OSError.
CACHE_ERRORS: tuple[type[Exception], ...] = (OSError, RedisError, ConnectionInterrupted)


def unavailable() -> ApiError:
    return ApiError(
        "rate_limit_unavailable",
        "The rate limits cannot be checked right now (their shared store is unreachable), so the request "
        "was refused. Try again shortly.",
        status=503,
    )
