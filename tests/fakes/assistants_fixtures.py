"""Fixtures for the fake Assistants upstreams. Import all four into a test module (fixtures
found through ``pytest_plugins`` must be declared in the root conftest, which is not ours to grow):
``from tests.fakes.assistants_fixtures import *  # noqa: F403``.

``fake_assistants`` / ``fake_azure_assistants``: one server per test session for each URL scheme
(the ``*_server`` fixtures), reset before every test (objects, plans, switches, key).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.assistants import FakeAssistants

__all__ = ["fake_assistants", "fake_assistants_server", "fake_azure_assistants", "fake_azure_assistants_server"]


@pytest.fixture(scope="session")
def fake_assistants_server() -> Iterator[FakeAssistants]:
    with FakeAssistants() as server:
        yield server


@pytest.fixture(scope="session")
def fake_azure_assistants_server() -> Iterator[FakeAssistants]:
    with FakeAssistants(azure=True) as server:
        yield server


@pytest.fixture
def fake_assistants(fake_assistants_server: FakeAssistants) -> FakeAssistants:
    fake_assistants_server.reset()
    return fake_assistants_server


@pytest.fixture
def fake_azure_assistants(fake_azure_assistants_server: FakeAssistants) -> FakeAssistants:
    fake_azure_assistants_server.reset()
    return fake_azure_assistants_server
