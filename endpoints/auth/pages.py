"""Pages: ``/tokens/`` (a person's API tokens) and ``/setup/<token>/`` (the first admin).

Plain POST forms with CSRF tokens.  A new token's key is rendered once, in the answer to the
POST that made it (``Cache-Control: no-store``), and never again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import login, password_validation
from django.contrib.auth.decorators import login_required
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from endpoints.auth import personal, setup
from endpoints.catalog.snapshot import get_snapshot

EXPIRY_CHOICES = [("7", "in 7 days"), ("30", "in 30 days"), ("90", "in 90 days"), ("365", "in a year"),
                  ("never", "never")]  # fmt: skip
DEFAULT_EXPIRY = "90"


def sdk_example(request: HttpRequest, ready: list[str] | None = None, key: str = "") -> dict[str, str]:
    """What ``templates/openai_snippet.html`` shows: this server's /v1, a key, a model to ask
    (the first model of the first endpoint, of those ``ready`` for this person when given)."""
    model = "<endpoint>/<model id>"
    for name, endpoint in get_snapshot().endpoints.items():
        if endpoint.models and (ready is None or name in ready):
            model = f"{name}/{endpoint.models[0].id}"
            break
    return {"base_url": request.build_absolute_uri("/v1"), "key": key or "<your API token>", "model": model}


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES)

    def expires_at(self) -> Any:
        days = self.cleaned_data["expires"]
        return None if days == "never" else timezone.now() + timedelta(days=int(days))


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    new = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            _revoke(request)
            return redirect("tokens")
        new = _create(request)
        if new is None:
            return redirect("tokens")
    user: Any = request.user
    context = {
        "new": new,
        "tokens": personal.active(user),
        "others": personal.everyone().exclude(user=user) if user.is_staff else None,
        "expiry_choices": EXPIRY_CHOICES,
        "default": DEFAULT_EXPIRY,
        "sdk": sdk_example(request, key=new.key) if new else None,
    }
    return render(request, "tokens.html", context)


def _create(request: HttpRequest) -> personal.NewToken | None:
    form = TokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the token a name and choose when it expires.")
        return None
    try:
        return personal.create(request.user, form.cleaned_data["name"], form.expires_at())
    except personal.TokenError as exc:
        messages.error(request, exc.message)
        return None


def _revoke(request: HttpRequest) -> None:
    pk = request.POST.get("token", "")
    token = personal.visible_to(request.user).filter(pk=pk).first() if pk.isdigit() else None
    if token is None:
        messages.error(request, "There is no such token to revoke.")
        return
    personal.revoke(token)
    messages.success(request, f"Revoked the token {token.name} ({token.prefix}…): it stops working within seconds.")


class AdminForm(forms.Form):
    username = forms.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = forms.EmailField(required=False)
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        elif data.get("password1"):
            try:
                password_validation.validate_password(data["password1"])
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


@never_cache
@require_http_methods(["GET", "POST"])
def setup_page(request: HttpRequest, token: str) -> HttpResponse:
    if not setup.valid(token):
        raise Http404("No such setup link.")
    if not setup.needed():
        messages.info(request, "The first admin exists already: sign in.")
        return redirect("login")
    form = AdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = setup.create_admin(data["username"], data["email"], data["password1"])
        except setup.SetupClosed:
            return redirect("login")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}: you are the administrator.")
        return redirect("home")
    return render(request, "setup.html", {"form": form})
