"""Local fake upstream servers that speak each vendor's wire format (see server.py)."""

from .anthropic import FakeAnthropic
from .azure import FakeAzure
from .google import FakeGoogle
from .network import Blackhole, closed_port_url
from .openai import FakeOpenAI
from .script import OVERLONG_SIZE, Fault, Reply, ToolCall
from .server import Exchange, FakeServer, Received

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
