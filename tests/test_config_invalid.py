"""Invalid and hostile librechat.yaml files: each is rejected by ``seed_endpoints`` with a
message naming the yaml path (and line, where there is one), and no row changes.

The files live in tests/configs/invalid/; each starts with ``# expect: <path>: <message>``
lines (see the README there).  A few hostile files are generated here instead of committed:
one over the 1 MiB cap, one that is not UTF-8 and one with a NUL byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from endpoints.models import AzureGroup, Endpoint, EndpointModel

INVALID_DIR = Path(__file__).parent / "configs" / "invalid"
EXPECT = re.compile(r"^# expect: (?P<path>.*?): (?P<message>.*?)(?: \(line (?P<line>\d+)\))?\s*$")

#: A configuration that seeds cleanly and touches every table: env-enabled built-ins,
#: custom endpoints (one with a literal key, stored encrypted), extension keys, Azure
#: groups (one serving assistants) and the assistants endpoint.
GOOD_CONFIG = """\
version: 1.3.14
cache: true
interface:
  modelSelect: true
endpoints:
  openAI:
    rateLimit: {requests: 60, windowSeconds: 60}
    models:
      default:
        - name: gpt-4o
          contextWindow: 100000
          fallbacks: ['groq/llama3-70b-8192']
  assistants:
    disableBuilder: false
    pollIntervalMs: 3000
    capabilities: ['code_interpreter', 'retrieval', 'actions', 'tools']
  azureOpenAI:
    groups:
      - group: 'eastus'
        apiKey: '${AZURE_EASTUS_KEY}'
        instanceName: 'my-eastus'
        version: '2024-02-15-preview'
        assistants: true
        models:
          gpt-4o:
            deploymentName: 'gpt-4o-prod'
          gpt-4o-mini:
            deploymentName: 'gpt-4o-mini-prod'
      - group: 'mistral-serverless'
        apiKey: 'azure-literal-key-123456'
        baseURL: 'https://mistral-large.eastus.models.ai.azure.com/v1/chat/completions'
        serverless: true
        models:
          mistral-large: true
  custom:
    - name: 'groq'
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1/'
      rateLimit: {tokens: 100000, windowSeconds: 60}
      models:
        default:
          - 'llama3-70b-8192'
          - name: 'llama3-8b-8192'
            prices: {prompt: 0.05, completion: 0.08}
      titleConvo: true
    - name: 'Ollama'
      apiKey: 'ollama-literal-key'
      baseURL: 'http://127.0.0.1:11434/v1/'
      models:
        default: ['llama3.2']
        fetch: true
"""
GOOD_ENV = {"OPENAI_API_KEY": "sk-test-not-a-real-key", "ANTHROPIC_API_KEY": "user_provided"}


@dataclass(frozen=True)
class Expectation:
    path: str
    message: str
    line: int | None


def expectations(text: str) -> list[Expectation]:
    result = []
    for raw in text.splitlines():
        match = EXPECT.match(raw)
        if match:
            line = match["line"]
            result.append(Expectation(match["path"], match["message"], int(line) if line else None))
    return result


def _too_big(tmp_path: Path) -> Path:
    path = tmp_path / "too_big.yaml"
    padding = "# " + "x" * 1022 + "\n"  # 1 KiB per line
    path.write_text("version: '1.3.14'\n" + padding * 2048)  # about 2 MiB
    return path


def _not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: '1.3.14'\n# café au lait\n".encode("latin-1"))
    return path


def _nul_byte(tmp_path: Path) -> Path:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"version: '1.3.14'\ncache: tr\x00ue\n")
    return path


GENERATED = {
    "too_big": (_too_big, [Expectation("(top level)", "the limit is 1048576", None)]),
    "not_utf8": (_not_utf8, [Expectation("(top level)", "is not UTF-8 text", None)]),
    "nul_byte": (_nul_byte, [Expectation("(top level)", "unacceptable character #x0000", None)]),
}

INVALID_FILES = sorted(INVALID_DIR.glob("*.yaml"))


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of the three tables, every concrete field, in id order."""
    return {
        model.__name__: [
            {field.attname: getattr(row, field.attname) for field in model._meta.concrete_fields}
            for row in model.objects.order_by("pk")
        ]
        for model in (Endpoint, AzureGroup, EndpointModel)
    }


@pytest.fixture
def seeded(settings, tmp_path):
    """The known-good configuration seeded; returns the rows as they are then."""
    settings.LIBRECHAT_ENDPOINT_VARS = dict(GOOD_ENV)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_CONFIG)
    call_command("seed_endpoints", str(good), stdout=StringIO(), stderr=StringIO())
    before = snapshot()
    assert before["Endpoint"] and before["AzureGroup"] and before["EndpointModel"]
    return before


def assert_rejected(path: Path, expected: list[Expectation], before: dict[str, Any]) -> None:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match=r"problem\(s\) in .*nothing was changed"):
        call_command("seed_endpoints", str(path), stdout=out, stderr=err)
    lines = err.getvalue().splitlines()
    for want in expected:
        found = [
            line
            for line in lines
            if line.startswith(f"{path}: ")
            and want.path in line
            and want.message in line
            and line.index(want.path, len(str(path))) < line.rindex(want.message)
        ]
        assert found, f"no stderr line names {want.path!r} with {want.message!r}:\n{err.getvalue()}"
        if want.line is not None:
            assert any(line.endswith(f"(line {want.line})") for line in found), (
                f"expected (line {want.line}) for {want.path!r}:\n{err.getvalue()}"
            )
    assert "applied" not in out.getvalue()
    after = snapshot()
    for table in before:
        assert len(after[table]) == len(before[table]), f"{table}: row count changed"
        for row_before, row_after in zip(before[table], after[table], strict=True):
            assert row_after == row_before, f"{table} row {row_before['id']} changed"


def test_it_has_at_least_35_invalid_files_each_with_an_expectation():
    assert len(INVALID_FILES) >= 35
    for path in INVALID_FILES:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# expect: "), f"{path.name} must start with '# expect: '"
        assert expectations(text), path.name


@pytest.mark.django_db
@pytest.mark.parametrize("path", INVALID_FILES, ids=[p.stem for p in INVALID_FILES])
def test_it_rejects_the_invalid_file_and_changes_no_row(path, seeded):
    assert_rejected(path, expectations(path.read_text(encoding="utf-8")), seeded)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(GENERATED))
def test_it_rejects_the_generated_hostile_file_and_changes_no_row(name, seeded, tmp_path):
    make, expected = GENERATED[name]
    assert_rejected(make(tmp_path), expected, seeded)


@pytest.mark.django_db
def test_it_rejects_a_missing_file_and_changes_no_row(seeded, tmp_path):
    missing = tmp_path / "does-not-exist.yaml"
    assert_rejected(missing, [Expectation("(top level)", "cannot read", None)], seeded)


@pytest.mark.django_db
def test_it_lists_every_problem_of_a_file_not_just_the_first(seeded):
    path = INVALID_DIR / "several_problems.yaml"
    err = StringIO()
    with pytest.raises(CommandError, match=r"^4 problem\(s\)"):
        call_command("seed_endpoints", str(path), stdout=StringIO(), stderr=err)
    assert len(err.getvalue().splitlines()) == 4


@pytest.mark.django_db
def test_it_never_runs_code_named_by_python_tags(seeded):
    """The hostile files' tags name os.system and subprocess.Popen, which would create this file."""
    marker = Path("/tmp/librechat-pwned")
    marker.unlink(missing_ok=True)
    hostile = sorted(INVALID_DIR.glob("python_*.yaml"))
    assert len(hostile) == 3
    for path in hostile:
        with pytest.raises(CommandError):
            call_command("seed_endpoints", str(path), stdout=StringIO(), stderr=StringIO())
    assert not marker.exists()


@pytest.mark.django_db
def test_it_names_the_exact_fallback_entry_and_its_line(seeded):
    assert_rejected(
        INVALID_DIR / "fallback_unknown_endpoint.yaml",
        [Expectation("endpoints.custom[0].models.default[0].fallbacks[0]", "names an unknown endpoint", 11)],
        seeded,
    )
