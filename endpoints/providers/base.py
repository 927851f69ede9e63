"""The provider contract: what every wire-protocol adapter offers and the events it yields.

An adapter turns one :class:`ChatRequest` (OpenAI chat format, the canonical internal format)
into one upstream HTTP call and yields normalized :data:`ChatEvent` objects: text deltas,
tool-call deltas, then exactly one :class:`Usage` and one :class:`Done`, last. Adapters of
stateful APIs (the Assistants API) may also yield :class:`Opened` first (ids the client
continues with), :class:`Step` (progress of a server-side tool) and :class:`RequiresAction`
(the answer waits for the client's tool outputs). Non-streaming :meth:`Provider.chat` is
derived from :meth:`Provider.stream_chat`, so each vendor has one parser.

Every failure leaves an adapter as a :class:`ProviderError`; its message is fit to show a user and
never contains an upstream body or a key.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from core.caller import Caller
from endpoints.providers.errors import ProviderError


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long, and how much, an upstream may take to answer (each cut off with a clear error)."""

    connect: float = 10.0  # UPSTREAM_CONNECT_TIMEOUT
    first_token: float = 60.0  # UPSTREAM_FIRST_TOKEN_TIMEOUT: from request sent to first byte of body/first event
    idle: float = 30.0  # UPSTREAM_IDLE_TIMEOUT: max gap between chunks
    total: float = 600.0  # UPSTREAM_MAX_SECONDS: a whole answer, however steadily it streams
    max_bytes: int = 16 * 1024 * 1024  # UPSTREAM_MAX_BYTES: a whole answer's body (or a listing's)


@dataclass(frozen=True, slots=True)
class AssistantsSettings:
    """An assistants endpoint's settings (LibreChat's ``endpoints.assistants`` items)."""

    version: str = "2"  # the OpenAI-Beta header's assistants=v{version}
    # LibreChat's waitForRun defaults (api/server/services/Runs/handle.js):
    poll_interval: float = 2.0  # seconds between polls of a run that is not streamed
    timeout: float = 180.0  # a run still going after this long is cancelled
    private: bool = False  # privateAssistants: only an assistant's author (and staff) may use it
    supported_ids: tuple[str, ...] | None = None
    excluded_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class Target:
    """Where and how to call: resolved by ``endpoints.catalog.targets`` (credentials passed in,
    never looked up)."""

    kind: str  # a wire protocol of the registry: 'openai' | 'azure' | 'anthropic' | 'google' | 'assistants' …
    base_url: str  # https://api.openai.com/v1 ; https://api.anthropic.com ; https://generativelanguage.googleapis.com
    api_key: str
    headers: dict[str, str] = field(default_factory=dict)  # endpoint's extra headers (already interpolated)
    add_params: dict[str, Any] = field(default_factory=dict)  # LibreChat addParams: merged into the vendor body last
    drop_params: list[str] = field(default_factory=list)  # LibreChat dropParams: removed from the vendor body
    organization: str | None = None  # OpenAI-Organization header
    # Azure only:
    azure_instance: str | None = None
    azure_deployment: str | None = None
    azure_api_version: str | None = None
    azure_serverless: bool = False  # base_url is the full completions URL; auth header api-key (LibreChat)
    timeouts: Timeouts = field(default_factory=Timeouts)
    guarded: bool = False  # the base URL came from a user: connect through the SSRF-guarded client
    assistants: AssistantsSettings | None = None  # the Assistants API protocols only
    endpoint: str = ""  # the name of the endpoint served (for records and messages, never for routing)

    def __repr__(self) -> str:  # the key must never reach a log line or a traceback
        return f"Target(kind={self.kind!r}, base_url={self.base_url!r}, guarded={self.guarded!r})"


@dataclass(slots=True)
class ChatRequest:
    model: str  # upstream model id
    # OpenAI chat format: roles system/user/assistant/tool; content str or a list of parts
    # {"type": "text"} / {"type": "image_url", "image_url": {"url": "data:…;base64,…" or "https://…"}};
    # assistant messages may have tool_calls; tool messages have tool_call_id.
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None  # [{"type": "function", "function": {name, description, parameters}}]
    tool_choice: Any = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    response_format: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other OpenAI params, passed to OpenAI-style upstreams only
    user: str | None = None  # the caller's id, as OpenAI's ``user``
    caller: Caller | None = None  # who asks (stateful APIs check ownership with it)
    conversation_id: str = ""
    run: RunCall | None = None  # the Assistants API protocols: which assistant, thread and run


@dataclass(frozen=True, slots=True)
class RunCall:
    """An assistants chat: start a run of ``assistant_id`` (on ``thread_id`` to go on with a thread),
    or continue the run ``run_id`` that requires action with ``tool_outputs``."""

    assistant_id: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    tool_outputs: list[dict[str, Any]] | None = None


# --- Normalized events: slotted and cheap, one object per upstream delta. ---


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int  # position of the call in this answer (0, 1, …), stable across its fragments
    id: str | None  # set on the first fragment of a call
    name: str | None  # set on the first fragment of a call
    arguments: str  # a fragment of the JSON arguments


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # part of prompt_tokens read from the provider's prompt cache
    estimated: bool = False  # the provider reported nothing: guessed (endpoints.providers.estimate)


@dataclass(slots=True)
class Done:
    finish_reason: str | None  # normalized to OpenAI's: stop / length / tool_calls / content_filter
    model: str | None = None  # the model id the provider says answered


@dataclass(slots=True)
class Opened:
    """The upstream opened state the client continues with (a thread and a run); first when sent."""

    context: dict[str, str]  # e.g. {"thread_id": …, "run_id": …}
    model: str | None = None  # the model answering, when the request named none (Azure: a deployment)


@dataclass(slots=True)
class Step:
    """Progress of a tool the upstream runs itself (code interpreter, file search), for clients to show."""

    id: str  # the tool call's id, stable across its updates
    type: str  # code_interpreter | file_search
    status: str  # in_progress | completed | failed | cancelled | expired
    text: str  # a short human line ("running code")
    input: str | None = None  # the code run, once known
    output: str | None = None  # the code's logs, once completed


@dataclass(slots=True)
class RequiresAction:
    """The answer waits for these function calls' outputs (OpenAI's tool call shape)."""

    tool_calls: list[dict[str, Any]]


ChatEvent = TextDelta | ToolCallDelta | Usage | Done | Opened | Step | RequiresAction


@dataclass(slots=True)
class ChatResult:
    text: str
    tool_calls: list[dict[str, Any]]  # OpenAI shape [{"id", "type": "function", "function": {"name", "arguments"}}]
    finish_reason: str | None
    model: str | None
    usage: Usage


# --- Plain functions shared by the adapters (each vendor's quirks stay in its module). ---


# Headers an endpoint's configuration may not set: they belong to the HTTP framing.
_FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"})


def request_headers(vendor: Mapping[str, str], target: Target) -> dict[str, str]:
    """The vendor's headers (auth, version, content type), then the endpoint's own headers.

    Endpoint headers win on a name clash (compared case-insensitively): a configured
    ``Authorization`` replaces the adapter's, as LibreChat's ``headers`` would for a gateway that
    wants its own auth. Framing headers (Host, Content-Length…) are never taken from config.
    """
    headers = {name.lower(): value for name, value in vendor.items()}
    for name, value in target.headers.items():
        key = name.lower()
        if key not in _FRAMING_HEADERS:
            headers[key] = value
    return headers


def finalize_body(body: dict[str, Any], target: Target, protected: Iterable[str] = ("stream",)) -> dict[str, Any]:
    """LibreChat's addParams (merged last, they win) then dropParams (removed from the result).

    ``protected`` keys are what the adapter's parser depends on (``stream``): config can neither
    set nor drop them.
    """
    keep = frozenset(protected)
    for key, value in target.add_params.items():
        if key not in keep:
            body[key] = value
    for key in target.drop_params:
        if key not in keep:
            body.pop(key, None)
    return body


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` -> (mime, base64 data); None for anything else."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")].split(";", 1)[0] or "application/octet-stream", data


def image_url(part: dict[str, Any]) -> str:
    """The URL of an ``image_url`` part: a base64 data URL or an http(s) URL, else invalid_request."""
    image = part.get("image_url")
    url = image.get("url", "") if isinstance(image, dict) else str(image or "")
    if url.startswith(("https://", "http://")) or parse_data_url(url) is not None:
        return url
    raise ProviderError("invalid_request", "An image must be a base64 data URL or an http(s) URL.")


def tool_arguments(raw: Any) -> Any:
    """An assistant tool call's arguments (a JSON string in OpenAI's format) as a value."""
    if not isinstance(raw, str):
        return raw if raw is not None else {}
    try:
        return json.loads(raw or "{}")
    except ValueError:
        raise ProviderError("invalid_request", "A tool call's arguments are not valid JSON.") from None


def content_text(content: Any) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or "" for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def counted_tokens(data: Any, key: str) -> int:
    """A token counter's answer (``{key: n}``), or the malformed-answer error."""
    tokens = data.get(key) if isinstance(data, dict) else None
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise ProviderError("upstream_error", "The provider sent a malformed answer.", status=200)
    return tokens


class Provider:
    """One wire protocol. Subclasses implement :meth:`list_models` and :meth:`stream_chat`.

    Adapters are cheap to build (one per request is fine): the connection pool lives in
    ``providers/http.py``. Credentials come in through the :class:`Target`; adapters never look
    anything up.
    """

    def __init__(self, target: Target) -> None:
        self.target = target

    async def list_models(self) -> list[str]:
        """The model ids the upstream offers with this key."""
        raise NotImplementedError

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        """An async generator of events, always ending with one :class:`Usage` then one :class:`Done`.

        Closing the generator (``aclose()``, or cancelling the task iterating it) closes the
        upstream response at once. Errors are raised as :class:`ProviderError`.
        """
        raise NotImplementedError

    def complete_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        """The same events as :meth:`stream_chat`, from one non-streamed upstream call where the
        vendor has one: its answer carries the real usage, which some servers' streams never do
        (a client that asked for no stream gets the exact counts).  Adapters without a
        non-streamed call answer from their stream."""
        return self.stream_chat(request)

    async def count_tokens(self, request: ChatRequest) -> int | None:
        """The upstream's own count of the request's prompt tokens, where its API has a counter
        (Anthropic's ``count_tokens``, Gemini's ``countTokens``); None where it has none."""
        return None

    async def chat(self, request: ChatRequest) -> ChatResult:
        """The whole answer at once, by consuming :meth:`stream_chat`."""
        texts: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        usage: Usage | None = None
        finish_reason: str | None = None
        model: str | None = None
        async with aclosing(self.stream_chat(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                elif isinstance(event, ToolCallDelta):
                    call = calls.get(event.index)
                    if call is None:
                        call = {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                        calls[event.index] = call
                    if event.id and not call["id"]:
                        call["id"] = event.id
                    if event.name and not call["function"]["name"]:
                        call["function"]["name"] = event.name
                    call["function"]["arguments"] += event.arguments
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Done):
                    finish_reason, model = event.finish_reason, event.model
        text = "".join(texts)
        if usage is None:  # adapters always yield one (the contract above); keep chat() total anyway
            usage = Usage(0, 0, estimated=True)
        return ChatResult(
            text=text,
            tool_calls=[calls[i] for i in sorted(calls)],
            finish_reason=finish_reason,
            model=model,
            usage=usage,
        )
