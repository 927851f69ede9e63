from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from core import secrets
from core.secrets import SecretError, decrypt, encrypt, mask, needs_rotation, rotate

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
HEX_KEY = "0123456789abcdef" * 4
VALUE = "sk-live-0123456789abcdefSECRET"
CONTEXT = "userkey:7:openAI"


@pytest.fixture(autouse=True)
def _one_key(settings):
    settings.CREDS_KEYS = [NEW_KEY]


def test_it_round_trips_a_value():
    token = encrypt(VALUE, context=CONTEXT)

    assert VALUE not in token
    assert decrypt(token, context=CONTEXT) == VALUE


def test_it_round_trips_unicode_and_empty_values():
    for value in ["", "ключ-🔑", '{"json": "inside"}']:
        assert decrypt(encrypt(value, context=CONTEXT), context=CONTEXT) == value


def test_it_refuses_a_token_copied_to_another_context():
    token = encrypt(VALUE, context="userkey:7:openAI")

    with pytest.raises(SecretError) as excinfo:
        decrypt(token, context="userkey:8:openAI")

    message = str(excinfo.value)
    assert "another record" in message
    assert VALUE not in message and token not in message


def test_it_refuses_a_token_for_another_field_of_the_same_row():
    token = encrypt(VALUE, context="endpoint:3:api_key")

    with pytest.raises(SecretError):
        decrypt(token, context="endpoint:3:base_url")


@pytest.mark.parametrize("position", [0, 20, -5])
def test_it_refuses_a_tampered_token(position):
    token = encrypt(VALUE, context=CONTEXT)
    index = position % len(token)
    swapped = "A" if token[index] != "A" else "B"
    tampered = token[:index] + swapped + token[index + 1 :]

    with pytest.raises(SecretError) as excinfo:
        decrypt(tampered, context=CONTEXT)

    assert tampered not in str(excinfo.value)
    assert VALUE not in str(excinfo.value)


@pytest.mark.parametrize("garbage", ["", "not a token", "gAAAAA", "ünïcode"])
def test_it_refuses_garbage(garbage):
    with pytest.raises(SecretError):
        decrypt(garbage, context=CONTEXT)


def test_it_refuses_a_token_from_an_unknown_key(settings):
    token = encrypt(VALUE, context=CONTEXT)
    settings.CREDS_KEYS = [OLD_KEY]

    with pytest.raises(SecretError) as excinfo:
        decrypt(token, context=CONTEXT)

    assert "CREDS_KEY" in str(excinfo.value)


def test_it_refuses_a_valid_fernet_token_without_an_envelope():
    bare = Fernet(NEW_KEY.encode()).encrypt(VALUE.encode()).decode()

    with pytest.raises(SecretError) as excinfo:
        decrypt(bare, context=CONTEXT)

    assert VALUE not in str(excinfo.value)


def test_it_rotates_to_the_newest_key(settings):
    settings.CREDS_KEYS = [OLD_KEY]
    old_token = encrypt(VALUE, context=CONTEXT)

    settings.CREDS_KEYS = [NEW_KEY, OLD_KEY]
    assert decrypt(old_token, context=CONTEXT) == VALUE
    assert needs_rotation(old_token) is True
    new_token = rotate(old_token, context=CONTEXT)
    assert needs_rotation(new_token) is False
    assert decrypt(new_token, context=CONTEXT) == VALUE
    # New values go under the newest key too.
    fresh = encrypt("another", context=CONTEXT)

    settings.CREDS_KEYS = [NEW_KEY]
    assert decrypt(new_token, context=CONTEXT) == VALUE
    assert decrypt(fresh, context=CONTEXT) == "another"
    with pytest.raises(SecretError):
        decrypt(old_token, context=CONTEXT)


def test_it_checks_the_context_before_rotating(settings):
    settings.CREDS_KEYS = [NEW_KEY, OLD_KEY]
    token = encrypt(VALUE, context=CONTEXT)

    with pytest.raises(SecretError):
        rotate(token, context="userkey:8:openAI")


def test_it_reports_unreadable_tokens_in_needs_rotation():
    with pytest.raises(SecretError):
        needs_rotation("not a token")


def test_it_accepts_a_librechat_hex_key(settings):
    settings.CREDS_KEYS = [HEX_KEY]
    token = encrypt(VALUE, context=CONTEXT)

    assert decrypt(token, context=CONTEXT) == VALUE
    # Deterministic: the same hex key (any case) reads it in another process.
    secrets._load_fernets.cache_clear()
    settings.CREDS_KEYS = [HEX_KEY.upper()]
    assert decrypt(token, context=CONTEXT) == VALUE


def test_it_mixes_hex_and_fernet_keys_for_rotation(settings):
    settings.CREDS_KEYS = [HEX_KEY]
    token = encrypt(VALUE, context=CONTEXT)

    settings.CREDS_KEYS = [NEW_KEY, HEX_KEY]
    assert decrypt(token, context=CONTEXT) == VALUE
    assert needs_rotation(token) is True


@pytest.mark.parametrize(
    "keys, position",
    [
        (["not-a-key"], 1),
        ([NEW_KEY, "0123"], 2),
        ([NEW_KEY, "g" * 64], 2),
        ([NEW_KEY, OLD_KEY, HEX_KEY + "00"], 3),
    ],
)
def test_it_rejects_a_malformed_key_naming_the_variable_and_entry(settings, keys, position):
    settings.CREDS_KEYS = keys

    with pytest.raises(ImproperlyConfigured) as excinfo:
        encrypt(VALUE, context=CONTEXT)

    message = str(excinfo.value)
    assert message == f"CREDS_KEY: entry {position} is neither a Fernet key nor 64 hex characters"
    assert keys[position - 1] not in message


def test_it_requires_a_key_outside_development(settings):
    settings.CREDS_KEYS = []
    settings.DEBUG = False
    settings.TESTING = False

    with pytest.raises(ImproperlyConfigured) as excinfo:
        encrypt(VALUE, context=CONTEXT)

    assert "CREDS_KEY" in str(excinfo.value)


def test_it_uses_a_loud_development_key_when_testing_without_keys(settings, caplog):
    secrets._load_fernets.cache_clear()
    settings.CREDS_KEYS = []
    settings.TESTING = True

    with caplog.at_level(logging.WARNING, logger="core.secrets"):
        token = encrypt(VALUE, context=CONTEXT)
        encrypt(VALUE, context=CONTEXT)
        assert decrypt(token, context=CONTEXT) == VALUE

    warnings = [r for r in caplog.records if "DEVELOPMENT KEY" in r.getMessage()]
    assert len(warnings) == 1


def test_it_does_not_derive_the_development_key_from_secret_key(settings):
    settings.CREDS_KEYS = []
    settings.TESTING = True
    settings.SECRET_KEY = "one-secret-key"
    token = encrypt(VALUE, context=CONTEXT)

    settings.SECRET_KEY = "another-secret-key"
    assert decrypt(token, context=CONTEXT) == VALUE


@pytest.mark.parametrize(
    "value, masked",
    [
        ("sk-abcdefgh1234", "…1234"),
        ("12345678", "…5678"),
        ("1234567", "…"),
        ("", "…"),
    ],
)
def test_it_masks_values(value, masked):
    assert mask(value) == masked
