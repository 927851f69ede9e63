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
    "ENV_FILE": "",  # these start the production settings: never with the developer's .env
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


def _setting(name: str, env: dict[str, str]) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PATH": GOOD["PATH"], **env},
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_it_never_reads_the_developers_env_file(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("DEBUG=true\nLOG_LEVEL=DEBUG\nDATABASE_URL=mysql2://nowhere\n")  # what would break a run
    # The production settings do read it (so the file is a real test of something) …
    assert _setting("DEBUG", {**GOOD, "ENV_FILE": str(dotenv), "DATABASE_URL": "sqlite:///:memory:"}) == "True"
    # … the test settings never do, even when pointed at it.
    env = {"DJANGO_SETTINGS_MODULE": "librechat_site.settings_test", "ENV_FILE": str(dotenv)}
    assert _setting("DEBUG", env) == "False"
    assert _setting("LOG_LEVEL", env) == "INFO"


def test_it_runs_this_suite_without_any_env_file():
    from django.conf import settings

    assert settings.ENV_FILE == ""
    assert settings.DEBUG is False


def test_it_refuses_an_env_file_that_does_not_exist(tmp_path):
    result = _check({"ENV_FILE": str(tmp_path / "missing.env")})
    assert result.returncode != 0
    assert "ENV_FILE: there is no file" in result.stderr
