"""Signing in, throttled: after too many failed attempts for one account, or from one address,
within ``LOGIN_WINDOW_SECONDS``, the form is refused (429) until the window passes.

Only failures count (django-ratelimit's fixed windows in the shared cache, so every worker
agrees); the address is the client's as ``TRUSTED_PROXIES`` says (a forged X-Forwarded-For
earns nothing), the account its username case-folded.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from core.clientip import request_ip

GROUP = "login-failures"


def _limits(request: HttpRequest) -> list[tuple[str, int]]:
    account = str(request.POST.get("username", "")).strip().casefold()
    limits = [("address:" + request_ip(request.META), settings.LOGIN_FAILURES_PER_ADDRESS)]
    if account:
        digest = hashlib.sha256(account.encode()).hexdigest()[:32]  # usernames may be long or odd
        limits.append(("account:" + digest, settings.LOGIN_FAILURES_PER_ACCOUNT))
    return limits


def _usage(request: HttpRequest, key: str, limit: int, *, increment: bool) -> dict[str, Any] | None:
    return get_usage(request, group=GROUP, key=lambda _group, _request: key,
                     rate=(limit, settings.LOGIN_WINDOW_SECONDS), increment=increment)  # fmt: skip


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        for key, limit in _limits(request):
            usage = _usage(request, key, limit, increment=False)
            if usage is not None and usage["count"] >= limit:
                minutes = max(1, round(usage["time_left"] / 60))
                form = self.get_form()
                form.add_error(None, f"Too many failed sign-ins. Try again in {minutes} minute(s).")
                response = self.render_to_response(self.get_context_data(form=form))
                response.status_code = 429
                response["Retry-After"] = str(max(1, usage["time_left"]))
                return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        for key, limit in _limits(self.request):
            _usage(self.request, key, limit, increment=True)
        return super().form_invalid(form)
