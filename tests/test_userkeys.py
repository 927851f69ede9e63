"""The lookup the chat core uses (``user_credentials``) and ``rotate_keys``."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from core import secrets
from endpoints.catalog.snapshot import get_snapshot
from endpoints.catalog.targets import TargetError, UserCredentials
from endpoints.config.seed import secret_context
from endpoints.keys import store as userkeys
from endpoints.models import Endpoint, UserKey
from tests.helpers import make_user, seed

pytestmark = pytest.mark.django_db

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: Mine
      apiKey: user_provided
      baseURL: user_provided
      models: {default: ['m1']}
    - name: local
      apiKey: 'sk-local-admin-typed-0001'
      baseURL: 'http://127.0.0.1:11434/v1'
      models: {default: ['llama3']}
"""
ENV = {"OPENAI_API_KEY": "user_provided", "ANTHROPIC_API_KEY": "user_provided", "GOOGLE_KEY": "user_provided"}
DNS = {"api.example.com": ["93.184.215.14"]}


@pytest.fixture(autouse=True)
def config(settings, monkeypatch):
    settings.LIBRECHAT_ENDPOINT_VARS = {**ENV}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users; not under test
    seed(CONFIG, env=ENV)
    monkeypatch.setattr("endpoints.netguard.urls.system_resolver", lambda host, port: DNS[host])


@pytest.fixture
def alice():
    return make_user("alice")


def credentials(user, name: str) -> UserCredentials:
    return async_to_sync(userkeys.user_credentials)(user.pk, get_snapshot().endpoints[name])


def failure(user, name: str) -> TargetError:
    with pytest.raises(TargetError) as caught:
        credentials(user, name)
    return caught.value


MINE = json.dumps({"apiKey": "sk-mine-1234", "baseURL": "https://api.example.com/v1"})


def test_it_returns_the_key_and_base_url(alice):
    userkeys.set_key(alice, "Mine", MINE, None)
    userkeys.set_key(alice, "openAI", '{"apiKey": "sk-openai-5678"}', None)
    userkeys.set_key(alice, "anthropic", "sk-ant-123456789", datetime.now(UTC) + timedelta(hours=1))
    userkeys.set_key(alice, "google", '{"GOOGLE_API_KEY": "AIza-1234"}', None)
    assert credentials(alice, "Mine") == UserCredentials("sk-mine-1234", "https://api.example.com/v1")
    assert credentials(alice, "openAI") == UserCredentials("sk-openai-5678", None)
    assert credentials(alice, "anthropic") == UserCredentials("sk-ant-123456789", None)
    assert credentials(alice, "google") == UserCredentials("AIza-1234", None)


def test_it_raises_no_user_key_when_none_is_stored(alice):
    userkeys.set_key(make_user("bob"), "anthropic", "sk-ant-bob-123456", None)
    error = failure(alice, "anthropic")
    assert error.kind == "no_user_key"
    assert error.context == {"endpoint": "anthropic"}


def test_it_raises_expired_user_key_with_the_date_and_endpoint(alice):
    userkeys.set_key(alice, "anthropic", "sk-ant-123456789", datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC))
    error = failure(alice, "anthropic")
    assert error.kind == "expired_user_key"
    assert error.context == {"expiredAt": "2020-01-02T03:04:05.000Z", "endpoint": "anthropic"}


def test_it_raises_invalid_user_key_for_a_tampered_ciphertext(alice):
    row = userkeys.set_key(alice, "anthropic", "sk-ant-123456789", None)
    token = row.ciphertext
    middle = len(token) // 2
    row.ciphertext = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    row.save()
    error = failure(alice, "anthropic")
    assert error.kind == "invalid_user_key"
    assert "sk-ant" not in error.message


def test_it_raises_invalid_user_key_for_a_ciphertext_copied_to_another_users_row(alice):
    bob = make_user("bob")
    userkeys.set_key(alice, "anthropic", "sk-ant-alice-111111", None)
    userkeys.set_key(bob, "anthropic", "sk-ant-bob-2222222", None)
    UserKey.objects.filter(user=bob).update(ciphertext=UserKey.objects.get(user=alice).ciphertext)
    assert failure(bob, "anthropic").kind == "invalid_user_key"
    assert credentials(alice, "anthropic").api_key == "sk-ant-alice-111111"


def test_it_raises_invalid_user_key_for_a_ciphertext_moved_to_another_endpoint(alice):
    userkeys.set_key(alice, "openAI", '{"apiKey": "sk-openai-5678"}', None)
    userkeys.set_key(alice, "Mine", MINE, None)
    UserKey.objects.filter(endpoint="Mine").update(ciphertext=UserKey.objects.get(endpoint="openAI").ciphertext)
    assert failure(alice, "Mine").kind == "invalid_user_key"


def test_it_raises_invalid_user_key_when_the_stored_value_does_not_parse(alice):
    # As LibreChat's getUserKeyValues: a value that is not JSON is INVALID_USER_KEY.
    UserKey.objects.create(
        user=alice, endpoint="Mine", ciphertext=secrets.encrypt("not json", context=userkeys.context(alice.pk, "Mine"))
    )
    assert failure(alice, "Mine").kind == "invalid_user_key"


def test_it_raises_invalid_user_key_when_the_encryption_key_is_gone(alice, settings):
    settings.CREDS_KEYS = [Fernet.generate_key().decode()]
    userkeys.set_key(alice, "anthropic", "sk-ant-123456789", None)
    settings.CREDS_KEYS = [Fernet.generate_key().decode()]
    assert failure(alice, "anthropic").kind == "invalid_user_key"


def test_it_raises_invalid_base_url_when_the_stored_url_now_resolves_privately(alice, monkeypatch):
    userkeys.set_key(alice, "Mine", MINE, None)
    monkeypatch.setattr("endpoints.netguard.urls.system_resolver", lambda host, port: ["169.254.169.254"])
    error = failure(alice, "Mine")
    assert error.kind == "invalid_base_url"
    assert "a cloud metadata address" in error.message
    assert error.context == {"endpoint": "Mine"}


def test_it_reports_status_without_the_key(alice):
    userkeys.set_key(alice, "anthropic", "sk-ant-123456789", None)
    userkeys.set_key(alice, "Mine", MINE, datetime(2020, 1, 1, tzinfo=UTC))
    status = {endpoint.name: s for endpoint, s in userkeys.statuses(alice)}
    assert list(status) == ["openAI", "google", "anthropic", "Mine"]  # LibreChat's default order
    assert status["anthropic"] == userkeys.KeyStatus("anthropic", "set", None, "…6789")
    assert status["Mine"].state == "expired"
    assert status["google"].state == "not_set"


# --- rotate_keys ----------------------------------------------------------------------------


def rotate() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_keys", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_rotates_every_secret_under_the_newest_key_and_can_run_again(alice, settings):
    old, new = Fernet.generate_key().decode(), "ab" * 32  # a Fernet key and a LibreChat-style hex key
    settings.CREDS_KEYS = [old]
    seed(CONFIG, env=ENV, overwrite=True)  # re-encrypt the admin-typed key under ``old``
    bob = make_user("bob")
    userkeys.set_key(alice, "Mine", MINE, None)
    userkeys.set_key(alice, "anthropic", "sk-ant-123456789", None)
    userkeys.set_key(bob, "anthropic", "sk-ant-bob-2222222", None)
    assert Endpoint.objects.get(name="local").api_key_secret

    settings.CREDS_KEYS = [new, old]
    out, err = rotate()
    assert "user keys: 3 re-encrypted, 0 already current, 0 unreadable" in out
    assert "endpoint keys: 1 re-encrypted, 0 already current, 0 unreadable" in out
    assert err == ""

    out, _ = rotate()  # safe to re-run: nothing left to do
    assert "user keys: 0 re-encrypted, 3 already current, 0 unreadable" in out
    assert "endpoint keys: 0 re-encrypted, 1 already current, 0 unreadable" in out

    settings.CREDS_KEYS = [new]  # the old key is gone: everything still reads
    assert credentials(alice, "Mine") == UserCredentials("sk-mine-1234", "https://api.example.com/v1")
    assert credentials(alice, "anthropic").api_key == "sk-ant-123456789"
    assert credentials(bob, "anthropic").api_key == "sk-ant-bob-2222222"
    local = Endpoint.objects.get(name="local")
    assert (
        secrets.decrypt(local.api_key_secret, context=secret_context("endpoint:local")) == "sk-local-admin-typed-0001"
    )


def test_it_reports_an_unreadable_secret_and_leaves_it_untouched(alice, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CREDS_KEYS = [old]
    seed(CONFIG, env=ENV, overwrite=True)
    userkeys.set_key(alice, "anthropic", "sk-ant-123456789", None)
    userkeys.set_key(make_user("bob"), "anthropic", "sk-ant-bob-2222222", None)
    damaged = UserKey.objects.get(user=alice)
    damaged.ciphertext = UserKey.objects.exclude(user=alice).get().ciphertext  # swapped: wrong context
    damaged.save()

    settings.CREDS_KEYS = [new, old]
    with pytest.raises(CommandError, match="1 stored secret"):
        rotate()
    damaged_after = UserKey.objects.get(pk=damaged.pk)
    assert damaged_after.ciphertext == damaged.ciphertext
    assert not secrets.needs_rotation(UserKey.objects.exclude(user=alice).get().ciphertext)


def test_it_exits_non_zero_from_the_command_line_on_an_unreadable_secret(alice, settings):
    settings.CREDS_KEYS = [Fernet.generate_key().decode()]
    userkeys.set_key(alice, "anthropic", "sk-ant-123456789", None)
    settings.CREDS_KEYS = [Fernet.generate_key().decode()]
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        from endpoints.management.commands.rotate_keys import Command

        Command(stderr=err).run_from_argv(["manage.py", "rotate_keys"])
    assert exited.value.code == 1
    assert "UserKey #" in err.getvalue()
    assert "sk-ant" not in err.getvalue()
