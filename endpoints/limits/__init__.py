"""Rate limits and concurrency caps (CONTRACT §8), as admission checks (``core.admission``).

Three checks, in LibreChat's order (``settings.CHAT_ADMISSION_CHECKS``):

* :func:`~endpoints.limits.checks.concurrency`: a slot of the user's ``CONCURRENT_MESSAGE_MAX``;
* :func:`~endpoints.limits.checks.message_limits`: one count in LibreChat's per-IP and per-user
  message windows;
* :func:`~endpoints.limits.checks.target_limits`: the target's ``rateLimit`` (endpoint and model):
  refused once the tokens recorded in the current window reach ``tokens``, else one count in
  each request window.  Fallback targets are held to their own.

The first two apply once per request; the third to every target tried.  A chat settles each
hold exactly once: the slot is released and the tokens used are added to the windows of the
target that answered.

Everything is counted in the shared cache (``RATELIMIT_USE_CACHE``: Redis when ``REDIS_URL`` is
set), so every worker process agrees (``counters.py``, ``slots.py``).  An unreachable cache
answers 503 ``rate_limit_unavailable`` (fail closed).
"""
