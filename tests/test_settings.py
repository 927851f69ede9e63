"""Start-up configuration: a bad variable stops the process naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "SECRET_KEY": "k3J9-vQ2_xL8mN4pR7sT1wY6zA0bC5dE9fG2hI8jK4lM7nO3pQ6rS1tU",
    "CREDS_KEY": "ab" * 32,
    "DJANGO_SETTINGS_MODULE": "librechat_site.settings",
    "PATH": os.environ.get("PATH", ""),
}


def _check(extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**GOOD, **extra}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql2://nowhere"),
        ("REDIS_URL", "http://localhost:6379"),
        ("UPSTREAM_IDLE_TIMEOUT", "soon"),
        ("MESSAGE_IP_MAX", "-3"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
        ("LOG_LEVEL", "LOUD"),
        ("CREDS_KEY", "short"),
        ("LIMIT_CONCURRENT_MESSAGES", "2"),
    ],
)
def test_it_refuses_to_start_with_a_bad_variable(name, value):
    result = _check({name: value})
    assert result.returncode != 0
    assert f"{name}:" in result.stderr or f"{name} " in result.stderr, result.stderr[-2000:]


def test_it_requires_a_secret_key_outside_debug():
    env = {k: v for k, v in GOOD.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY: not set" in result.stderr


def test_it_passes_the_deploy_check_with_production_variables():
    result = _check({"SECURE_HTTPS": "true", "ALLOWED_HOSTS": "example.org"}, "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
