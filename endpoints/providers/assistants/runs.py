"""What one run needs beyond the chat request (the endpoint's settings, the chat's ids), and
the run bodies built from a chat's messages and tool outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from endpoints.providers.assistants.events import RunTracker, content_part
from endpoints.providers.base import AssistantsSettings, ChatRequest, RunCall, Target
from endpoints.providers.errors import ProviderError

#: The wire kind of Azure's Assistants API (``assistants`` is OpenAI's).
AZURE_KIND = "azureAssistants"


@dataclass(slots=True)
class RunOptions:
    """What a run needs beyond the chat request: the endpoint's settings and the chat's ids."""

    assistant_id: str | None
    thread_id: str | None
    run_id: str | None  # with tool_outputs: the run to continue
    tool_outputs: list[dict[str, Any]] | None
    model: str | None  # overrides the assistant's model (Azure: the deployment name)
    version: str  # the OpenAI-Beta header's assistants=v{version}
    poll_interval: float
    timeout: float
    stream: bool  # LibreChat streams OpenAI's v2 runs and polls Azure's and v1's (chatV2, chatV1)
    metadata: dict[str, str] = field(default_factory=dict)  # the new thread's metadata


def run_options(target: Target, request: ChatRequest | None = None) -> RunOptions:
    settings = target.assistants or AssistantsSettings()
    run = (request.run if request else None) or RunCall()
    azure = target.kind == AZURE_KIND
    version = settings.version.lstrip("vV") or "2"
    model = request.model if request else ""
    return RunOptions(
        assistant_id=run.assistant_id,
        thread_id=run.thread_id,
        run_id=run.run_id,
        tool_outputs=run.tool_outputs,
        # A model asked for overrides the assistant's (on Azure, by its deployment name).
        model=(target.azure_deployment if azure else model) if model else None,
        version=version,
        poll_interval=settings.poll_interval,
        timeout=settings.timeout,
        stream=not azure and version != "1",
        metadata={"user": request.user or "", "conversationId": request.conversation_id} if request else {},
    )


def timed_out(tracker: RunTracker) -> ProviderError:
    return ProviderError(
        "upstream_timeout",
        "The assistant's run did not finish in time; it was cancelled.",
        retryable=True,
        started=tracker.started,
    )


def message_body(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):
        content = [content_part(part) for part in content if isinstance(part, dict)]
    return {"role": message["role"], "content": content if content else ""}


def tool_output_body(item: dict[str, Any]) -> dict[str, Any]:
    output = item.get("output")
    if not isinstance(item.get("tool_call_id"), str):
        raise ProviderError("invalid_request", "Each tool output needs the tool_call_id it answers.")
    return {"tool_call_id": item["tool_call_id"], "output": output if isinstance(output, str) else json.dumps(output)}
