"""Pytest fixtures for the fake upstreams (load with ``pytest_plugins = ["tests.fakes.fixtures"]``).

Each vendor fake is one server per test session, in a background thread with its own event loop,
so sync tests and async tests on any loop can use it; the function-scoped fixtures reset it
(requests, scripts, default reply, models, key) before every test.

* ``fake_openai`` / ``fake_azure`` / ``fake_anthropic`` / ``fake_google``: the servers
  (``.base_url`` is what a Target or endpoint config wants; the key is ``"test-key"``).
* ``fake_openai_b``: a second OpenAI fake, with no model list (a model's second deployment).
* ``refused_url``: a loopback URL where nothing listens.
* ``blackhole_url``: a loopback URL whose connections never complete (connect timeout).
* ``close_upstream_clients``: closes the shared httpx2 clients of the test's event loop after
  an async test (use it in async tests that call adapters: ``pytestmark = pytest.mark.usefixtures(...)``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.azure import FakeAzure
from tests.fakes.google import FakeGoogle
from tests.fakes.network import Blackhole, closed_port_url
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import FakeServer


def _session_server(server: FakeServer) -> Iterator[FakeServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _fake_openai_server() -> Iterator[FakeServer]:
    yield from _session_server(FakeOpenAI())


@pytest.fixture(scope="session")
def _fake_openai_b_server() -> Iterator[FakeServer]:
    yield from _session_server(FakeOpenAI())


@pytest.fixture(scope="session")
def _fake_azure_server() -> Iterator[FakeServer]:
    yield from _session_server(FakeAzure())


@pytest.fixture(scope="session")
def _fake_anthropic_server() -> Iterator[FakeServer]:
    yield from _session_server(FakeAnthropic())


@pytest.fixture(scope="session")
def _fake_google_server() -> Iterator[FakeServer]:
    yield from _session_server(FakeGoogle())


@pytest.fixture
def fake_openai(_fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    _fake_openai_server.reset()
    return _fake_openai_server


@pytest.fixture
def fake_openai_b(_fake_openai_b_server: FakeOpenAI) -> FakeOpenAI:
    _fake_openai_b_server.reset()
    _fake_openai_b_server.models = None
    return _fake_openai_b_server


@pytest.fixture
def fake_azure(_fake_azure_server: FakeAzure) -> FakeAzure:
    _fake_azure_server.reset()
    return _fake_azure_server


@pytest.fixture
def fake_anthropic(_fake_anthropic_server: FakeAnthropic) -> FakeAnthropic:
    _fake_anthropic_server.reset()
    return _fake_anthropic_server


@pytest.fixture
def fake_google(_fake_google_server: FakeGoogle) -> FakeGoogle:
    _fake_google_server.reset()
    return _fake_google_server


@pytest.fixture
def refused_url() -> str:
    return closed_port_url()


@pytest.fixture(scope="session")
def blackhole_url() -> Iterator[str]:
    with Blackhole() as hole:
        yield hole.url


@pytest_asyncio.fixture
async def close_upstream_clients() -> AsyncIterator[None]:
    yield
    from endpoints.providers.http import aclose_clients

    await aclose_clients()
