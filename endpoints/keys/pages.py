"""Server-rendered pages for signed-in people (templates in ``templates/``).

``/keys/`` lists every endpoint that takes a user key (or base URL) with the key's status, and
lets the user set, replace or revoke it.  Plain POST forms with CSRF tokens, then a redirect
back (post/redirect/get), so it works without JavaScript.  A key is never rendered back: only
its masked tail.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from endpoints.keys import store as userkeys

#: The expiry choices of LibreChat's key dialog (SetKeyDialog.tsx ``EXPIRY``); 12 hours is its default.
EXPIRY_CHOICES = [
    ("30m", "in 30 minutes"),
    ("2h", "in 2 hours"),
    ("12h", "in 12 hours"),
    ("1d", "in 1 day"),
    ("7d", "in 7 days"),
    ("30d", "in 30 days"),
    ("never", "never"),
]
EXPIRY_DELTAS = {
    "30m": timedelta(minutes=30),
    "2h": timedelta(hours=2),
    "12h": timedelta(hours=12),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "never": None,
}
DEFAULT_EXPIRY = "12h"


class KeyForm(forms.Form):
    endpoint = forms.CharField(max_length=100)
    api_key = forms.CharField(required=False, max_length=userkeys.MAX_VALUE_LENGTH)
    base_url = forms.CharField(required=False, max_length=2000)
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES)


@login_required
@require_http_methods(["GET", "POST"])
def keys_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            _revoke(request)
        else:
            _save(request)
        return redirect("keys")
    context = {"rows": userkeys.statuses(request.user), "expiry_choices": EXPIRY_CHOICES, "default": DEFAULT_EXPIRY}
    return render(request, "keys.html", context)


def _save(request: HttpRequest) -> None:
    form = KeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The form was incomplete: choose an endpoint and an expiry, then try again.")
        return
    data = form.cleaned_data
    try:
        endpoint = userkeys.find_endpoint(data["endpoint"])
        if endpoint.user_provides_key and not data["api_key"]:
            raise userkeys.UserKeyError("invalid_request", f"Enter your API key for {endpoint.name}.")
        if endpoint.user_provides_url and not data["base_url"]:
            raise userkeys.UserKeyError("invalid_request", f"Enter the base URL for {endpoint.name}.")
        delta = EXPIRY_DELTAS[data["expires"]]
        expires_at = timezone.now() + delta if delta else None
        value = userkeys.compose_value(endpoint, data["api_key"], data["base_url"])
        userkeys.set_key(request.user, endpoint.name, value, expires_at)
    except userkeys.UserKeyError as exc:
        messages.error(request, exc.message)
        return
    when = f"it expires on {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "it never expires"
    messages.success(request, f"Saved your key for {endpoint.name}; {when}.")


def _revoke(request: HttpRequest) -> None:
    name = request.POST.get("endpoint", "")
    if userkeys.delete_key(request.user, name):
        messages.success(request, f"Revoked your key for {name}.")
    else:
        messages.info(request, f"You had no key stored for {name}.")
