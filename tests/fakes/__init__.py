"""Local fake upstream servers that speak each vendor's wire format (see server.py)."""

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.azure import FakeAzure
from tests.fakes.google import FakeGoogle
from tests.fakes.network import Blackhole, closed_port_url
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import OVERLONG_SIZE, Fault, Reply, ToolCall
from tests.fakes.server import Exchange, FakeServer, Received

__all__ = [
    "OVERLONG_SIZE",
    "Blackhole",
    "Exchange",
    "FakeAnthropic",
    "FakeAzure",
    "FakeGoogle",
    "FakeOpenAI",
    "FakeServer",
    "Fault",
    "Received",
    "Reply",
    "ToolCall",
    "closed_port_url",
]
