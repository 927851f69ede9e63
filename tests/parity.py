"""What tests/test_librechat_parity.py runs: LibreChat's own verdict on a list of files (one
node process, tests/librechat/validate.js), ours (``seed_endpoints --dry-run``), the corpus
(LibreChat's example configs, our valid, hostile and parity files, generated mutations) and a
view of the seeded rows that two databases can compare."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from core import secrets
from endpoints.config.seed import secret_context
from endpoints.config.yamlfile import dump
from endpoints.models import AzureGroup, ConfigState, Endpoint
from usage.models import BalanceSettings

TESTS = Path(__file__).parent
LIBRECHAT = TESTS / "librechat"
CONFIGS = TESTS / "configs"
REPO = TESTS.parent
FOLDERS = ("librechat", "valid", "invalid", "parity")


# --- LibreChat's side -----------------------------------------------------------------------------


def _installed() -> bool:
    """node_modules holds exactly the versions package.json pins."""
    pinned = json.loads((LIBRECHAT / "package.json").read_text())["dependencies"]
    for name, version in pinned.items():
        installed = LIBRECHAT / "node_modules" / name / "package.json"
        if not installed.is_file() or json.loads(installed.read_text()).get("version") != version:
            return False
    return True


def ensure_librechat() -> None:
    """``npm ci`` the pinned packages when node_modules lacks them (skip without npm, unless CI=true)."""
    if _installed():
        return
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        message = "node and npm are not installed, so LibreChat's own code cannot run here"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with open(LIBRECHAT / ".npm-ci.lock", "w") as lock:  # xdist workers: one installs, the other waits
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed():
            subprocess.run(
                [npm, "ci", "--prefix", str(LIBRECHAT), "--no-audit", "--no-fund", "--loglevel=error"],
                check=True,
                timeout=600,
            )


def librechat_verdicts(files: dict[str, Path], env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """LibreChat's verdict on every file, from one node process (see validate.js)."""
    ensure_librechat()
    with tempfile.TemporaryDirectory() as tmp:
        request, out = Path(tmp) / "request.json", Path(tmp) / "verdicts.json"
        listing = [{"id": key, "path": str(path)} for key, path in files.items()]
        request.write_text(json.dumps({"out": str(out), "env": env, "files": listing}))
        run = subprocess.run(
            ["node", str(LIBRECHAT / "validate.js"), str(request)],
            cwd=LIBRECHAT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, f"validate.js failed:\n{run.stdout}\n{run.stderr}"
        verdicts: dict[str, dict[str, Any]] = json.loads(out.read_text())
    return verdicts


# --- our side ------------------------------------------------------------------------------------


def our_verdict(path: Path) -> tuple[bool, list[str]]:
    """``manage.py seed_endpoints --dry-run PATH``: accepted, and the problems printed."""
    err = StringIO()
    try:
        call_command("seed_endpoints", str(path), "--dry-run", stdout=StringIO(), stderr=err)
    except CommandError:
        return False, [line for line in err.getvalue().splitlines() if not line.startswith("warning: ")]
    return True, []


# --- the corpus ----------------------------------------------------------------------------------

#: A file that uses every section LibreChat and this service share; the mutations start here.
BASE_CONFIG = """\
version: 1.3.14
cache: true
imageOutputType: png
fileStrategy: local
interface: {customWelcome: 'Hi'}
balance: {enabled: true, startBalance: 20000, refillIntervalValue: 30, refillIntervalUnit: days}
endpoints:
  all: {streamRate: 20}
  openAI:
    titleConvo: true
    headers: {x-team: research}
    rateLimit: {requests: 60, windowSeconds: 60}
    models: {default: ['gpt-4o', {name: 'gpt-4o-mini', contextWindow: 128000}]}
  google: {titleModel: 'gemini-2.0-flash'}
  anthropic:
    titleModel: 'claude-3-5-haiku-latest'
    models: ['claude-sonnet-4-5']
  assistants:
    disableBuilder: false
    pollIntervalMs: 3000
    timeoutMs: 180000
    supportedIds: ['asst_1']
    retrievalModels: ['gpt-4o']
    capabilities: ['code_interpreter', 'retrieval', 'actions', 'tools', 'image_vision']
  azureAssistants:
    capabilities: ['tools', 'actions', 'code_interpreter']
  agents:
    disableBuilder: false
    capabilities: ['execute_code', 'file_search', 'actions', 'tools']
  azureOpenAI:
    assistants: true
    titleConvo: true
    groups:
      - group: 'eastus'
        apiKey: '${AZURE_EASTUS_KEY}'
        instanceName: 'my-eastus'
        version: '2024-05-01-preview'
        deploymentName: 'gpt-4o-prod'
        assistants: true
        additionalHeaders: {x-region: eastus}
        models:
          gpt-4o: true
          gpt-4o-mini: {deploymentName: 'gpt-4o-mini-prod', version: '2024-10-21'}
      - group: 'serverless'
        apiKey: '${AZURE_LLAMA_KEY}'
        serverless: true
        baseURL: 'https://llama.eastus.models.ai.azure.com/v1/chat/completions'
        models: {Llama-3-70B: true}
  custom:
    - name: 'groq'
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1/'
      models: {default: ['llama3-70b-8192', 'llama3-8b-8192'], fetch: false}
      titleConvo: true
      modelDisplayLabel: 'Groq'
      iconURL: 'https://example.com/groq.png'
      dropParams: ['stop']
      addParams: {safe_prompt: true}
      fallbacks: ['openAI/gpt-4o']
    - name: 'Claude-Compatible'
      provider: 'anthropic'
      apiKey: 'user_provided'
      baseURL: 'https://api.anthropic.com'
      models: {default: ['claude-sonnet-4-5']}
      customParams: {defaultParamsEndpoint: 'anthropic', paramDefinitions: [{key: temperature, default: 0.5}]}
"""
UNKNOWN_KEY = "zzNotAKey"


def _text(keys: tuple[str | int, ...]) -> str:
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _get(data: Any, keys: tuple[str | int, ...]) -> Any:
    for key in keys:
        data = data[key]
    return data


def _walk(node: Any, keys: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(keys, value) of every value below ``node``."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield (*keys, key), value
        yield from _walk(value, (*keys, key))


def _replacements(value: Any) -> list[tuple[str, Any]]:
    """The mutations of one value: no value, a wrong type, an empty or odd value."""
    if isinstance(value, dict):
        return [("null", None), ("empty", {}), ("list", ["x"]), ("unknown", {**value, UNKNOWN_KEY: 1})]
    if isinstance(value, list):
        return [("null", None), ("empty", []), ("text", "x"), ("repeat", [*value, copy.deepcopy(value[0])])]
    if isinstance(value, bool):
        return [("null", None), ("text", "yes")]
    if isinstance(value, int | float):
        return [("null", None), ("text", str(value)), ("negative", -1), ("zero", 0), ("fraction", 0.5)]
    return [("null", None), ("number", 12345), ("empty", "")]


def mutations(base: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Deterministic variations of ``base``: every key dropped, every value replaced by each of
    its replacements (above), an unknown key added to the file."""
    for keys, value in list(_walk(base)):
        parent_keys, key = keys[:-1], keys[-1]
        if isinstance(_get(base, parent_keys), dict):
            data = copy.deepcopy(base)
            del _get(data, parent_keys)[key]
            yield f"mutation:{_text(keys)}:drop", data
        for op, replacement in _replacements(value):
            data = copy.deepcopy(base)
            _get(data, parent_keys)[key] = replacement
            yield f"mutation:{_text(keys)}:{op}", data
    yield f"mutation:{UNKNOWN_KEY}:unknown", {**copy.deepcopy(base), UNKNOWN_KEY: 1}


def corpus(directory: Path) -> dict[str, Path]:
    """Every file of the differential test, by id ("invalid/empty", "mutation:cache:null" …)."""
    from endpoints.config.yamlfile import load_text
    from tests.test_config_invalid import GENERATED

    files = {f"{folder}/{path.stem}": path for folder in FOLDERS for path in sorted((CONFIGS / folder).glob("*.yaml"))}
    files["fixtures/librechat"] = REPO / "fixtures" / "librechat.yaml"
    files["readme/examples"] = _write(directory, "readme-examples", None, text=readme_example())
    for name, (make, _expected) in sorted(GENERATED.items()):
        files[f"generated/{name}"] = make(directory)
    base, _ = load_text(BASE_CONFIG)
    files["mutation:base"] = _write(directory, "base", base)
    for index, (key, data) in enumerate(mutations(base)):
        files[key] = _write(directory, f"m{index:04d}", data)
    return files


def _write(directory: Path, name: str, data: Any, *, text: str | None = None) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(dump(data) if text is None else text, encoding="utf-8")
    return path


def readme_example() -> str:
    """The README's "Examples of every endpoint type" block."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Examples of every endpoint type", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


# --- the rows, comparably ------------------------------------------------------------------------


def portable_rows() -> dict[str, Any]:
    """The seeded configuration without ids, timestamps, positions (order kept) or ciphertexts
    (literal keys decrypted): what a second database seeded from an export must equal."""

    def fields(row: Any, skip: set[str]) -> dict[str, Any]:
        skip = skip | {"id", "updated_at", "api_key_secret", "api_key_hint", "position"}
        return {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields if f.attname not in skip}

    endpoints = []
    for row in Endpoint.objects.order_by("position", "name"):
        data = fields(row, set())
        data["secret"] = row.api_key_secret and secrets.decrypt(
            row.api_key_secret, context=secret_context(f"endpoint:{row.name}")
        )
        data["models"] = [
            {**fields(m, {"endpoint_id", "group_id"}), "group": m.group.group if m.group else None}
            for m in row.models.select_related("group").order_by("position", "model_id")
        ]
        endpoints.append(data)
    groups = []
    for group in AzureGroup.objects.select_related("endpoint").order_by("endpoint__name", "position"):
        data = fields(group, {"endpoint_id"})
        data["endpoint"] = group.endpoint.name
        data["secret"] = group.api_key_secret and secrets.decrypt(
            group.api_key_secret, context=secret_context(f"azure-group:{group.endpoint.name}:{group.group}")
        )
        groups.append(data)
    balance = BalanceSettings.objects.filter(pk=1).values().first()
    version = ConfigState.objects.filter(pk=1).values_list("version", flat=True).first()
    if balance:
        balance.pop("updated_at", None)
    return {"endpoints": endpoints, "groups": groups, "balance": balance, "version": version}


def clear_rows() -> None:
    Endpoint.objects.all().delete()
    BalanceSettings.objects.all().delete()
    ConfigState.objects.all().delete()
