"""LibreChat parity, proven against LibreChat's own published code.

Every file of a corpus (LibreChat's example configs at three points of its history, this
project's valid, hostile and parity files, and ~500 deterministic mutations of a file that uses
every section) goes through LibreChat's code (librechat-data-provider's configSchema and
@librechat/data-schemas' start-up, pinned in tests/librechat/package-lock.json; one node
process) and through ``seed_endpoints --dry-run``.  The verdicts must agree, except for the
deliberate deviations listed here, each documented by a line of the README.  Files both accept
must render ``/api/endpoints`` as LibreChat does, and must export to a file LibreChat accepts
that seeds back to the same rows.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from endpoints.catalog.snapshot import build_snapshot
from endpoints.config import ConfigError, load_config
from endpoints.config.export import export
from endpoints.config.seed import apply
from tests.parity import (
    LIBRECHAT,
    REPO,
    clear_rows,
    corpus,
    ensure_librechat,
    librechat_verdicts,
    our_verdict,
    portable_rows,
)

#: The environment both sides see: the assistants endpoint is on (its entry is compared).
ENV = {"ASSISTANTS_API_KEY": "user_provided"}
WE_REFUSE, LIBRECHAT_REFUSES = "we refuse, LibreChat accepts", "LibreChat refuses, we accept"


@dataclass(frozen=True)
class Deviation:
    """A deliberate disagreement: the README says ``readme``; ``cases`` are corpus ids
    (``*`` matches anything) where it shows."""

    readme: str
    direction: str
    cases: tuple[str, ...]

    def covers(self, case: str, direction: str) -> bool:
        return direction == self.direction and any(_matches(pattern, case) for pattern in self.cases)


def _matches(pattern: str, case: str) -> bool:
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), case) is not None


#: The deliberate deviations, each with the README line that documents it (README.md,
#: "LibreChat parity").  A disagreement on a file no entry covers fails the test, and so does
#: an entry no file shows any more.
DEVIATIONS: dict[str, Deviation] = {
    "incomplete custom endpoint": Deviation(
        "A custom endpoint without `name`, `apiKey`, `baseURL` or `models` (or with an empty one) is refused",
        WE_REFUSE,
        (
            "invalid/custom_missing_*",
            "invalid/custom_empty_apikey",
            "mutation:endpoints.custom[*]:empty",
            *(
                f"mutation:endpoints.custom[*].{key}:{op}"
                for key in ("name", "apiKey", "baseURL")
                for op in ("drop", "empty")
            ),
            "mutation:endpoints.custom[*].models:drop",
        ),
    ),
    "empty names": Deviation(
        "An empty model name, Azure group name or Azure `apiKey` is refused",
        WE_REFUSE,
        (
            "invalid/custom_empty_model_name",
            "mutation:endpoints.custom[*].models.default[*]:empty",
            "mutation:endpoints.anthropic.models[*]:empty",
            "mutation:endpoints.azureOpenAI.groups[*].group:empty",
            "mutation:endpoints.azureOpenAI.groups[*].apiKey:empty",
        ),
    ),
    "base URLs": Deviation(
        "A literal `baseURL` must be an http(s) URL with a host",
        WE_REFUSE,
        ("invalid/baseurl_*", "invalid/azure_metadata_baseurl", "parity/baseurl_without_scheme"),
    ),
    "extension keys": Deviation(
        "Our extension keys are checked",
        WE_REFUSE,
        (
            "invalid/context_window_*",
            "invalid/fallback_*",
            "invalid/price_*",
            "invalid/ratelimit_*",
            "mutation:endpoints.openAI:drop",  # groq's fallback names openAI/gpt-4o
            "mutation:endpoints.openAI.rateLimit*",
            "mutation:endpoints.openAI.models*",
            "mutation:endpoints.custom[*].fallbacks*",
        ),
    ),
    "column sizes": Deviation(
        "Values must fit the database",
        WE_REFUSE,
        (
            "invalid/custom_name_too_long",
            "invalid/model_name_too_long",
            "invalid/poll_interval_too_large",
            *(
                f"mutation:endpoints.assistants.{key}:{op}"
                for key in ("pollIntervalMs", "timeoutMs")
                for op in ("negative", "zero", "fraction")
            ),
            *(
                f"mutation:balance.{key}:{op}"
                for key in ("startBalance", "refillIntervalValue")
                for op in ("negative", "zero", "fraction")
            ),
        ),
    ),
    "yaml limits": Deviation(
        "Files over 1 MiB, files that are not UTF-8, and YAML anchors that refer to themselves are refused",
        WE_REFUSE,
        ("invalid/recursive_anchor", "generated/too_big", "generated/not_utf8"),
    ),
    "server key for a user's URL": Deviation(
        "An endpoint whose `baseURL` is `user_provided` may not send a key or `${VAR}` header of the server",
        WE_REFUSE,
        ("invalid/server_key_for_user_base_url",),
    ),
    "unused sections": Deviation(
        "The contents of the sections this service does not use are LibreChat's to check",
        LIBRECHAT_REFUSES,
        ("mutation:interface*",),
    ),
}


#: Differences in /api/endpoints, each with its README line: (corpus id pattern, endpoint, key).
RESPONSE_DEVIATIONS: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    "empty labels": (
        "An empty `iconURL` or `modelDisplayLabel` is left out of `/api/endpoints`",
        (
            ("mutation:endpoints.custom[*].modelDisplayLabel:empty", "*", "modelDisplayLabel"),
            ("mutation:endpoints.custom[*].iconURL:empty", "*", "iconURL"),
        ),
    ),
    "azureAssistants without the flag": (
        "`azureAssistants` is listed whenever it is configured",
        (
            ("mutation:endpoints.azureOpenAI:drop", "azureAssistants", "(listed)"),
            ("mutation:endpoints.azureOpenAI.assistants:drop", "azureAssistants", "(listed)"),
        ),
    ),
}


def _response_deviation(case: str, name: str, key: str) -> str | None:
    for label, (_readme, cases) in RESPONSE_DEVIATIONS.items():
        if any(_matches(c, case) and _matches(n, name) and k == key for c, n, k in cases):
            return label
    return None


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def theirs(files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return librechat_verdicts(files, ENV)


@pytest.fixture
def env(settings: Any) -> None:
    settings.LIBRECHAT_ENDPOINT_VARS = dict(ENV)
    settings.ENVIRON = dict(ENV)


@pytest.mark.django_db
def test_it_agrees_with_librechat_on_every_file_of_the_corpus(files, theirs, env):
    assert len(files) > 500
    unexplained, seen = [], set()
    for case, path in files.items():
        accepted, problems = our_verdict(path)
        if accepted == theirs[case]["accepted"]:
            continue
        direction = WE_REFUSE if theirs[case]["accepted"] else LIBRECHAT_REFUSES
        covering = [key for key, deviation in DEVIATIONS.items() if deviation.covers(case, direction)]
        seen.update(covering)
        if not covering:
            reason = problems[:2] if not accepted else theirs[case]["errors"][:2]
            unexplained.append(f"{case}: {direction}: {reason}")
    assert not unexplained, f"{len(unexplained)} undocumented disagreements:\n" + "\n".join(unexplained)
    assert seen == set(DEVIATIONS), f"deviations no file shows any more: {sorted(set(DEVIATIONS) - seen)}"


def test_it_documents_every_deviation_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = [(key, d.readme) for key, d in DEVIATIONS.items()] + [(k, v[0]) for k, v in RESPONSE_DEVIATIONS.items()]
    for key, line in lines:
        assert line in readme, f"{key}: the README does not say {line!r}"


# --- /api/endpoints -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def both_accept(files: dict[str, Path], theirs: dict[str, dict[str, Any]]) -> dict[str, Path]:
    """The files LibreChat accepts and we read (the agreement test runs the full dry-run seed)."""
    accepted = {}
    for case, path in files.items():
        if theirs[case]["accepted"]:
            try:
                load_config(path, env=dict(ENV))
            except ConfigError:
                continue
            accepted[case] = path
    return accepted


def _our_entries() -> dict[str, dict[str, Any]]:
    snapshot = build_snapshot("parity")
    from endpoints.catalog.librechat import entry

    return {name: entry(endpoint) for name, endpoint in snapshot.endpoints.items()}


@pytest.mark.django_db
def test_it_renders_the_endpoints_as_librechat_does(both_accept, theirs, env):
    assert len(both_accept) > 150
    mismatches, seen = [], set()
    for case, path in both_accept.items():
        clear_rows()
        apply(load_config(path, env=dict(ENV)))
        ours, expected = _our_entries(), theirs[case]["endpoints"]
        for name, entry in expected.items():
            if name not in ours:
                mismatches.append(f"{case}: {name} is missing")
                continue
            for key in sorted(set(entry) | set(ours[name])):
                if ours[name].get(key, "(absent)") == entry.get(key, "(absent)"):
                    continue
                label = _response_deviation(case, name, key)
                seen.add(label)
                if label is None:
                    mismatches.append(f"{case}: {name}.{key}: ours {ours[name].get(key, '(absent)')!r}, "
                                      f"LibreChat's {entry.get(key, '(absent)')!r}")  # fmt: skip
        for name in set(ours) - set(expected):
            label = _response_deviation(case, name, "(listed)")
            seen.add(label)
            if label is None:
                mismatches.append(f"{case}: {name} is listed here, not by LibreChat")
        customs = [name for name, entry in ours.items() if entry.get("type") == "custom"]
        if customs != [name for name, entry in expected.items() if entry.get("type") == "custom"]:
            mismatches.append(f"{case}: custom endpoints {customs} != LibreChat's {list(expected)}")
    assert not mismatches, f"{len(mismatches)} differences:\n" + "\n".join(mismatches[:40])
    assert seen >= set(RESPONSE_DEVIATIONS), f"no file shows {sorted(set(RESPONSE_DEVIATIONS) - seen)} any more"


# --- export round trip --------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_exports_what_librechat_accepts_to_a_file_it_accepts_that_seeds_back_to_the_same_rows(
    both_accept, settings, tmp_path
):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    exported, before = {}, {}
    for case, path in both_accept.items():
        clear_rows()
        apply(load_config(path, env={}))
        before[case] = portable_rows()
        exported[case] = tmp_path / f"{len(exported):04d}.yaml"
        exported[case].write_text(export(include_secrets=True).to_yaml(), encoding="utf-8")
    verdicts = librechat_verdicts(exported, {})
    refused = [f"{case}: {verdicts[case]['errors'][:2]}" for case in exported if not verdicts[case]["accepted"]]
    assert not refused, "LibreChat refuses these exports:\n" + "\n".join(refused)
    changed = []
    for case, path in exported.items():
        clear_rows()
        try:
            apply(load_config(path, env={}))
        except ConfigError as exc:
            changed.append(f"{case}: the export does not seed: {exc}")
            continue
        if portable_rows() != before[case]:
            changed.append(case)
    assert not changed, f"{len(changed)} exports seed different rows: {changed[:20]}"


# --- the pinned packages ------------------------------------------------------------------------


def test_it_pins_exact_versions_and_commits_the_lock_file():
    package = json.loads((LIBRECHAT / "package.json").read_text())
    lock = json.loads((LIBRECHAT / "package-lock.json").read_text())
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned exactly: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_it_ships_the_parameter_catalogue_of_the_pinned_package():
    """endpoints/config/librechat_params.json is dump_params.js's output for the pinned package."""
    ensure_librechat()
    run = subprocess.run(
        ["node", str(LIBRECHAT / "dump_params.js")], cwd=LIBRECHAT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    shipped = (REPO / "endpoints" / "config" / "librechat_params.json").read_text(encoding="utf-8")
    assert json.loads(run.stdout) == json.loads(shipped), "regenerate it: node tests/librechat/dump_params.js"
