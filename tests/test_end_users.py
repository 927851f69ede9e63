"""Service tokens acting for end users at the /v1 gateway: each person's chats are theirs (limits,
concurrency, budgets, balances, usage rows), on /v1/chat/completions and /v1/messages, through
the official SDKs as LibreChat would configure them; a plain token sending the headers is refused."""

from __future__ import annotations

import base64
import threading
from decimal import Decimal
from io import StringIO
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command

from core.caller import Caller
from endpoints.auth import endusers
from endpoints.models import ApiToken, EndUser, TokenKind
from tests.every_endpoint import personal_token, service_token
from tests.fakes.server import Reply
from tests.helpers import make_user, recorded, seed_fake_endpoint, usage_settled
from usage.models import Balance, BalanceSettings, Period, SpendingLimit, SpendingWindow, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "Hi"}]
APIS = ["completions", "messages"]


class App:
    """An app in front of the gateway (LibreChat, say), holding one token, sending the headers
    LibreChat's custom endpoint config sends for each person."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def headers(self, user: str | None = None, email: str | None = None) -> dict[str, str]:
        headers = {}
        if user is not None:
            headers["X-End-User-Id"] = user
        if email is not None:
            headers["X-End-User-Email"] = email
        return headers

    def openai(self, **headers: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.token, max_retries=0, timeout=20,
                             default_headers=headers)  # fmt: skip

    def anthropic(self, **headers: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=self.token, max_retries=0, timeout=20,
                                   default_headers=headers)  # fmt: skip

    def chat(self, api: str, user: str | None = None, email: str | None = None, **extra: Any) -> Any:
        """One small chat on ``api`` for the person named by the headers."""
        headers = self.headers(user, email)
        if api == "completions":
            return self.openai(**headers).chat.completions.create(model="fakeai/gpt-4o", messages=HELLO, max_tokens=10,
                                                                  **extra)  # fmt: skip
        return self.anthropic(**headers).messages.create(model="fakeai/gpt-4o", messages=HELLO, max_tokens=10, **extra)

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self.token}", **headers}
        return httpx2.post(f"{self.url}{path}", json=body, headers=headers, timeout=20)


@pytest.fixture
def app(settings, fake_openai, asgi_server) -> App:
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.LIMIT_CONCURRENT_MESSAGES = False
    seed_fake_endpoint(fake_openai.base_url)
    return App(asgi_server.url, service_token())


def end_user(external_id: str) -> Any:
    return EndUser.objects.select_related("user", "service_owner").get(external_id=external_id)


def rows_by_person(count: int) -> dict[str, list[str]]:
    """Each person's usage rows, once ``count`` rows are final."""
    usage_settled(count)
    out: dict[str, list[str]] = {}
    for record in UsageRecord.objects.select_related("user__end_user").order_by("created_at", "id"):
        out.setdefault(record.user.end_user.external_id, []).append(record.error_type or record.status)
    return out


# --- each person's chats are theirs -------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_it_attributes_three_end_users_chats_separately_with_their_own_budgets(app, api):
    BalanceSettings.objects.update_or_create(pk=1, defaults={"enabled": True, "start_balance": Decimal(20000)})
    # each person may spend $0.0002 a day: one small chat (0.0001125 held, 0.0001 spent) fits, two do not
    SpendingLimit.objects.create(period=Period.DAY, amount_usd=Decimal("0.0002"))
    app.chat(api, "lc-user-1", "one@example.org")
    error = openai.APIStatusError if api == "completions" else anthropic.APIStatusError
    with pytest.raises(error) as raised:
        app.chat(api, "lc-user-1", "one@example.org")
    assert raised.value.status_code == 402  # the first person's budget is used up …
    app.chat(api, "lc-user-2", "two@example.org")  # … not the others'
    app.chat(api, "lc-user-3")
    assert rows_by_person(4) == {"lc-user-1": ["ok", "budget_exceeded"], "lc-user-2": ["ok"], "lc-user-3": ["ok"]}
    people = {external_id: end_user(external_id).user for external_id in ("lc-user-1", "lc-user-2", "lc-user-3")}
    assert {w.subject for w in SpendingWindow.objects.all()} == {u.pk for u in people.values()}
    assert {b.user_id: b.credits for b in Balance.objects.all()} == {u.pk: Decimal(19900) for u in people.values()}
    owner = get_user_model().objects.get(username="librechat")
    assert not UsageRecord.objects.filter(user=owner).exists()  # the app spent nothing of its own
    assert {row.service_owner for row in EndUser.objects.all()} == {owner}
    assert people["lc-user-1"].email == "one@example.org" and people["lc-user-3"].email == ""


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("scope", ["user", "ip"])
def test_it_counts_each_end_user_in_their_own_rate_limit_windows(app, settings, api, scope):
    settings.LIMIT_MESSAGE_USER = scope == "user"
    settings.MESSAGE_USER_MAX = 1
    settings.LIMIT_MESSAGE_IP = True
    settings.MESSAGE_IP_MAX = 1 if scope == "ip" else 1000  # all come from the app's address: counted apart
    app.chat(api, "a")
    app.chat(api, "b")
    app.chat(api, "c")
    error = openai.RateLimitError if api == "completions" else anthropic.RateLimitError
    with pytest.raises(error) as raised:
        app.chat(api, "a")
    body = raised.value.body
    assert (body["error"]["details"] if api == "messages" else body)["scope"] == scope
    assert rows_by_person(4) == {"a": ["ok", "rate_limit_exceeded"], "b": ["ok"], "c": ["ok"]}


def test_it_gives_each_end_user_their_own_concurrency_slots(app, settings, fake_openai):
    settings.LIMIT_CONCURRENT_MESSAGES = True
    settings.CONCURRENT_MESSAGE_MAX = 1
    fake_openai.reply = Reply(text=["tick"] * 20, delay=0.1)
    opened = threading.Event()

    def hold_a_stream() -> None:
        stream = app.openai(**app.headers("busy")).chat.completions.create(
            model="fakeai/gpt-4o", messages=HELLO, stream=True)  # fmt: skip
        for _chunk in stream:
            opened.set()

    holder = threading.Thread(target=hold_a_stream)
    holder.start()
    try:
        assert opened.wait(10)
        with pytest.raises(openai.RateLimitError) as raised:
            app.chat("completions", "busy")
        assert raised.value.code == "concurrent_limit"
        fake_openai.reply = Reply()
        assert app.chat("completions", "idle").choices[0].message.content == "Hello, world!"
    finally:
        holder.join(20)


# --- who is named, and how -----------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_it_refuses_a_plain_token_that_sends_the_headers(app, api, settings):
    app.token = personal_token()
    error = openai.PermissionDeniedError if api == "completions" else anthropic.PermissionDeniedError
    with pytest.raises(error) as raised:
        app.chat(api, "lc-user-1", "one@example.org")
    message = str(raised.value)
    assert "X-End-User-Email, X-End-User-Id" in message and "service token" in message
    with pytest.raises(openai.PermissionDeniedError):
        app.openai(**app.headers("lc-user-1")).models.list()
    assert not UsageRecord.objects.exists() and not EndUser.objects.exists()


def test_it_refuses_the_headers_on_api_chat(app):
    response = app.post("/api/chat", {"endpoint": "fakeai", "model": "gpt-4o", "messages": HELLO},
                        **{"X-End-User-Id": "lc-user-1"})  # fmt: skip
    assert response.status_code == 401 and "/v1 gateway only" in response.json()["message"]
    assert not UsageRecord.objects.exists()


def test_it_names_the_end_user_by_the_openai_user_field_and_lets_the_header_win(app):
    app.openai().chat.completions.create(model="fakeai/gpt-4o", messages=HELLO, user="from-body")
    app.openai(**app.headers("from-header")).chat.completions.create(model="fakeai/gpt-4o", messages=HELLO,
                                                                      user="ignored")  # fmt: skip
    assert rows_by_person(2) == {"from-body": ["ok"], "from-header": ["ok"]}
    assert not EndUser.objects.filter(external_id="ignored").exists()


def test_it_names_the_end_user_by_anthropic_metadata(app, fake_openai):
    app.anthropic().messages.create(model="fakeai/gpt-4o", max_tokens=5, messages=HELLO,
                                    metadata={"user_id": "meta-1"})  # fmt: skip
    assert rows_by_person(1) == {"meta-1": ["ok"]}
    assert fake_openai.last.json["user"] == str(end_user("meta-1").user.pk)  # upstream sees the person, not the app


def test_it_acts_as_the_owner_when_a_service_token_names_nobody(app):
    app.chat("completions")
    assert recorded().user.username == "librechat"


def test_a_plain_tokens_openai_user_field_is_ignored_as_before(app):
    app.token = personal_token("alice")
    app.openai().chat.completions.create(model="fakeai/gpt-4o", messages=HELLO, user="someone")
    assert recorded().user.username == "alice" and not EndUser.objects.exists()


def test_it_finds_people_by_email_when_no_id_is_sent_and_decodes_librechats_b64(app):
    app.chat("completions", email="Jane@Example.org")
    app.chat("messages", email="jane@example.org")
    encoded = "b64:" + base64.b64encode("łucja@example.org".encode()).decode()  # outside Latin-1: LibreChat's form
    app.chat("completions", email=encoded)
    app.chat("messages", email=encoded)
    rows = {row.email: row for row in EndUser.objects.all()}
    assert set(rows) == {"jane@example.org", "łucja@example.org"} and {r.external_id for r in rows.values()} == {""}
    usage_settled(4)
    assert all(UsageRecord.objects.filter(user=row.user).count() == 2 for row in rows.values())


def test_it_keeps_an_end_users_email_current(app):
    app.chat("completions", "lc-7", "old@example.org")
    app.chat("completions", "lc-7", "new@example.org")
    assert end_user("lc-7").email == end_user("lc-7").user.email == "new@example.org"


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-End-User-Id": "{{LIBRECHAT_USER_ID}}"}, "X-End-User-Id"),  # LibreChat did not fill it
        ({"X-End-User-Id": ""}, "X-End-User-Id"),
        ({"X-End-User-Email": "not an email"}, "X-End-User-Email"),
        ({"X-End-User-Id": "x" * 201}, "X-End-User-Id"),
    ],
)
def test_it_refuses_headers_that_name_nobody(app, headers, field):
    with pytest.raises(openai.BadRequestError) as raised:
        app.openai(**headers).chat.completions.create(model="fakeai/gpt-4o", messages=HELLO)
    assert raised.value.code == "invalid_request" and field in raised.value.message
    assert not EndUser.objects.exists()


def test_an_end_user_never_becomes_an_existing_account(app):
    admin = make_user("admin", staff=True)
    app.chat("completions", "admin", "admin@example.org")
    person = end_user("admin").user
    assert person.pk != admin.pk and not person.is_staff and not person.is_superuser
    assert person.username == "librechat~admin" and not person.has_usable_password()
    assert recorded().user == person
    assert authenticate(username=person.username, password="") is None  # nobody signs in as them


def test_it_refuses_a_deactivated_end_user_at_once(app, admin_client):
    app.chat("completions", "leaver")
    row = end_user("leaver")
    admin_client.post("/admin/endpoints/enduser/", {"action": "deactivate", "_selected_action": [row.pk]})
    with pytest.raises(openai.PermissionDeniedError) as raised:
        app.chat("completions", "leaver")
    assert "deactivated" in raised.value.message
    app.chat("completions", "stayer")


def test_it_resolves_a_known_end_user_without_a_query(app, django_assert_num_queries):
    owner = get_user_model().objects.get(username="librechat")
    service = Caller(id=owner.pk, username=owner.username)
    ref = endusers.EndUserRef("warm-1", "warm@example.org")
    first = async_to_sync(endusers.act_for)(service, ref)
    with django_assert_num_queries(0):
        assert async_to_sync(endusers.act_for)(service, ref) == first
    from core import memo

    memo.clear()  # another worker: the shared cache answers
    with django_assert_num_queries(0):
        assert async_to_sync(endusers.act_for)(service, ref) == first


# --- seeing them ---------------------------------------------------------------------------


def test_its_owner_sees_the_end_users_usage_and_nobody_else_does(app, client):
    app.chat("completions", "lc-user-1", "one@example.org")
    app.chat("messages", "lc-user-2")
    usage_settled(2)  # each row is committed just after its answer went out
    owner_auth = {"HTTP_AUTHORIZATION": f"Bearer {app.token}"}
    assert client.get("/api/usage", **owner_auth).json()["results"] == []  # the app's own: none
    everyone = client.get("/api/usage?user=all", **owner_auth).json()["results"]
    assert sorted((r["user"], r["end_user"]["id"], r["end_user"]["service"]) for r in everyone) == [
        ("librechat~lc-user-1", "lc-user-1", "librechat"),
        ("librechat~lc-user-2", "lc-user-2", "librechat"),
    ]
    one = client.get("/api/usage?end_user=ONE@example.org", **owner_auth).json()
    assert [r["end_user"]["email"] for r in one["results"]] == ["one@example.org"] and one["totals"]["requests"] == 1
    summary = client.get("/api/usage/summary?user=all", **owner_auth).json()
    assert {row["username"] for row in summary["by_user"]} == {"librechat~lc-user-1", "librechat~lc-user-2"}
    stranger = {"HTTP_AUTHORIZATION": f"Bearer {personal_token('mallory')}"}
    assert client.get("/api/usage?end_user=lc-user-1", **stranger).json()["results"] == []
    assert client.get("/api/usage?user=librechat~lc-user-1", **stranger).status_code == 403
    admin = {"HTTP_AUTHORIZATION": f"Bearer {personal_token_for_staff()}"}
    assert client.get("/api/usage?end_user=lc-user-2", **admin).json()["results"][0]["user"] == "librechat~lc-user-2"


def personal_token_for_staff() -> str:
    from endpoints.auth import personal

    return personal.create(make_user("root", staff=True), "admin").key


def test_its_owner_sees_the_end_users_on_the_usage_page(app, client):
    app.chat("completions", "lc-user-1")
    usage_settled(1)
    owner = get_user_model().objects.get(username="librechat")
    client.force_login(owner)
    page = client.get("/usage/").content.decode()
    assert "People your service tokens act for" in page and "librechat~lc-user-1" in page
    client.force_login(make_user("bob"))
    assert "People your service tokens act for" not in client.get("/usage/").content.decode()


# --- making service tokens ------------------------------------------------------------------


def test_only_a_superuser_marks_service_tokens_and_it_takes_effect_at_once(app, admin_client, client):
    key = personal_token("bot")
    token = ApiToken.objects.get(user__username="bot")
    app.token = key
    app.chat("completions")  # cached as a personal token
    staff = make_user("staffer", staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_apitoken", "change_apitoken"]))
    client.force_login(staff)
    client.post("/admin/endpoints/apitoken/", {"action": "mark_service", "_selected_action": [token.pk]})
    assert ApiToken.objects.get(pk=token.pk).kind == TokenKind.PERSONAL
    admin_client.post("/admin/endpoints/apitoken/", {"action": "mark_service", "_selected_action": [token.pk]})
    assert ApiToken.objects.get(pk=token.pk).kind == TokenKind.SERVICE
    app.chat("completions", "lc-user-9")
    assert end_user("lc-user-9").service_owner.username == "bot"


def test_the_service_token_command_makes_an_account_without_a_password_and_a_key(app):
    out, err = StringIO(), StringIO()
    call_command("service_token", "openwebui", "--name", "Open WebUI", stdout=out, stderr=err)
    key = out.getvalue().strip()
    account = get_user_model().objects.get(username="openwebui")
    assert not account.has_usable_password() and key.startswith("lcp_")
    assert ApiToken.objects.get(user=account).kind == TokenKind.SERVICE
    app.token = key
    app.chat("messages", "owui-1")
    assert end_user("owui-1").service_owner == account
