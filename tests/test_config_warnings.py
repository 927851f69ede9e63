"""librechat.yaml files LibreChat accepts but that are probably mistakes: seeding accepts them
too, as LibreChat does, and warns naming the yaml path and line.

The files live in tests/configs/valid/; each starts with ``# warn: <path>: <message>`` lines.
"""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from endpoints.config import parse_text
from endpoints.models import Endpoint, EndpointModel

VALID_DIR = Path(__file__).parent / "configs" / "valid"
WARN = re.compile(r"^# warn: (?P<path>.*?): (?P<message>.*?)(?: \(line (?P<line>\d+)\))?\s*$")
VALID_FILES = sorted(VALID_DIR.glob("*.yaml"))


def expected_warnings(text: str) -> list[tuple[str, str, int | None]]:
    found = []
    for raw in text.splitlines():
        match = WARN.match(raw)
        if match:
            found.append((match["path"], match["message"], int(match["line"]) if match["line"] else None))
    return found


def test_it_has_a_warning_expectation_in_every_file():
    assert len(VALID_FILES) >= 7
    for path in VALID_FILES:
        assert expected_warnings(path.read_text(encoding="utf-8")), path.name


@pytest.mark.django_db
@pytest.mark.parametrize("path", VALID_FILES, ids=[p.stem for p in VALID_FILES])
def test_it_seeds_the_file_and_warns_naming_path_and_line(path, settings):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    out, err = StringIO(), StringIO()
    call_command("seed_endpoints", str(path), stdout=out, stderr=err)
    lines = [line for line in err.getvalue().splitlines() if line.startswith("warning: ")]
    for want_path, message, line in expected_warnings(path.read_text(encoding="utf-8")):
        found = [text for text in lines if text.startswith(f"warning: {want_path}: ") and message in text]
        assert found, f"no warning names {want_path!r} with {message!r}:\n{err.getvalue()}"
        if line is not None:
            assert any(text.endswith(f"(line {line})") for text in found), err.getvalue()


@pytest.mark.django_db
def test_it_keeps_the_last_of_two_endpoints_with_one_name_in_the_first_ones_place(settings):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    call_command("seed_endpoints", str(VALID_DIR / "custom_duplicate_ollama_spellings.yaml"), stdout=StringIO())
    ollama = Endpoint.objects.get(name="ollama")
    assert ollama.base_url == "http://127.0.0.1:11435/v1/"
    assert list(ollama.models.values_list("model_id", flat=True)) == ["qwen2.5"]


@pytest.mark.django_db
def test_it_offers_a_model_listed_twice_once(settings):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    call_command("seed_endpoints", str(VALID_DIR / "model_listed_twice.yaml"), stdout=StringIO())
    ids = EndpointModel.objects.filter(endpoint__name="groq").order_by("position").values_list("model_id", flat=True)
    assert list(ids) == ["llama3-70b-8192", "llama3-8b-8192"]


def test_it_reads_yaml_1_1_booleans_as_text_as_librechat_does():
    config = parse_text((VALID_DIR / "apikey_on_boolean.yaml").read_text(), env={})
    spec = config.endpoint("groq")
    assert spec is not None and spec.api_key == "on"


def test_it_uses_supported_ids_and_ignores_excluded_ids_as_librechat_does():
    config = parse_text((VALID_DIR / "assistants_supported_and_excluded.yaml").read_text(), env={})
    spec = config.endpoint("assistants")
    assert spec is not None
    assert (spec.supported_ids, spec.excluded_ids) == (["asst_supportedAssistantId1"], None)


def test_it_lets_the_mappings_own_keys_win_over_yaml_merge_keys():
    config = parse_text(
        """\
version: 1.3.14
endpoints:
  custom:
    - &defaults
      name: first
      apiKey: '${SHARED_KEY}'
      baseURL: 'https://api.example.com/v1'
      models: {default: ['m']}
    - <<: *defaults
      name: second
      baseURL: 'https://other.example.com/v1'
""",
        env={},
    )
    second = config.endpoint("second")
    assert second is not None
    assert (second.api_key, second.base_url) == ("${SHARED_KEY}", "https://other.example.com/v1")
    assert [e.name for e in config.endpoints] == ["first", "second"]
