"""The provider contract: what every wire-protocol adapter offers and the events it yields.

An adapter turns one :class:`ChatRequest` (OpenAI chat format, the canonical internal format)
into one upstream HTTP call and yields normalized :data:`ChatEvent` objects: text deltas,
tool-call deltas, then exactly one :class:`Usage` and one :class:`Done`, last. Non-streaming
:meth:`Provider.chat` is derived from :meth:`Provider.stream_chat`, so each vendor has one parser.

Every failure leaves an adapter as a :class:`ProviderError`; its message is fit to show a user and
never contains an upstream body or a key.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncGenerator, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0  # UPSTREAM_CONNECT_TIMEOUT
    first_token: float = 60.0  # UPSTREAM_FIRST_TOKEN_TIMEOUT: from request sent to first byte of body/first event
    idle: float = 30.0  # UPSTREAM_IDLE_TIMEOUT: max gap between chunks


@dataclass(slots=True)
class Target:
    """Where and how to call: resolved by endpoints/chat.py (credentials passed in, never looked up)."""

    kind: str  # 'openai' | 'azure' | 'anthropic' | 'google'
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
    user: str | None = None


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
    estimated: bool = False  # the provider reported nothing; see estimate_usage()


@dataclass(slots=True)
class Done:
    finish_reason: str | None  # normalized to OpenAI's: stop / length / tool_calls / content_filter
    model: str | None = None  # the model id the provider says answered


ChatEvent = TextDelta | ToolCallDelta | Usage | Done


@dataclass(slots=True)
class ChatResult:
    text: str
    tool_calls: list[dict[str, Any]]  # OpenAI shape [{"id", "type": "function", "function": {"name", "arguments"}}]
    finish_reason: str | None
    model: str | None
    usage: Usage


ERROR_KINDS = frozenset(
    {
        "invalid_api_key",
        "model_not_available",
        "upstream_rate_limited",
        "upstream_error",
        "upstream_timeout",
        "invalid_request",
        # A user-supplied base URL resolved to a forbidden address (endpoints/netguard.py).
        "invalid_base_url",
    }
)


class ProviderError(Exception):
    """The one adapter exception.

    ``kind`` is one of the contract's error types (:data:`ERROR_KINDS`). ``message`` is human text
    that never contains the upstream body or any key. ``status`` is the upstream HTTP status, if
    any. ``retryable`` means a fallback is worth trying (5xx, timeouts, connection errors, 429,
    404 model). ``started`` is set when the error came after the first event was yielded, when it
    is too late for a fallback and the API layer sends an ``error`` event instead.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        started: bool = False,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown ProviderError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.started = started

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.kind!r}, {self.message!r}, status={self.status!r}, "
            f"retryable={self.retryable!r}, started={self.started!r})"
        )


# --- Plain functions shared by the adapters (each vendor's quirks stay in its module). ---


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_error(status: int, *, retry_after: float | None = None, kind: str | None = None) -> ProviderError:
    """The common HTTP status mapping; adapters refine it in their ``_map_status``."""
    if kind is None:
        if status in (401, 403):
            kind = "invalid_api_key"
        elif status == 404:
            kind = "model_not_available"
        elif status == 429:
            kind = "upstream_rate_limited"
        elif status in (400, 413, 422):
            kind = "invalid_request"
        else:
            kind = "upstream_error"
    message, retryable = _STATUS_TEXT[kind]
    if kind == "upstream_error":
        retryable = status >= 500
    if kind == "upstream_rate_limited" and retry_after is not None:
        message = f"{message} Retry after {math.ceil(retry_after)} s."
    return ProviderError(
        kind, f"{message} (HTTP {status})", status=status, retryable=retryable, retry_after=retry_after
    )


def malformed_event() -> ProviderError:
    return ProviderError("upstream_error", "The provider sent a malformed stream event.", retryable=True)


def truncated_stream(started: bool) -> ProviderError:
    """The body ended cleanly but without the vendor's end-of-answer marker."""
    return ProviderError(
        "upstream_error", "The provider's stream ended before it was complete.", retryable=True, started=started
    )


_STATUS_TEXT = {
    "invalid_api_key": ("The provider rejected the API key.", False),
    "model_not_available": ("The provider does not offer this model.", True),
    "upstream_rate_limited": ("The provider is rate limiting requests.", True),
    "invalid_request": ("The provider rejected the request as invalid.", False),
    "upstream_error": ("The provider failed to answer.", True),
    "upstream_timeout": ("The provider did not answer in time.", True),
    "invalid_base_url": ("The base URL is not allowed.", False),
}

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


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(part.get("text") or "") for part in content if isinstance(part, dict))
    return 0


def estimate_usage(request: ChatRequest, completion_chars: int) -> Usage:
    """Roughly four characters per token, for upstreams that report no usage.

    Only text counts: images and tool schemas vary too much by vendor to guess well.
    """
    prompt_chars = 0
    for message in request.messages:
        prompt_chars += _text_chars(message.get("content"))
        for call in message.get("tool_calls") or ():
            prompt_chars += len((call.get("function") or {}).get("arguments") or "")
    return Usage(
        prompt_tokens=math.ceil(prompt_chars / 4),
        completion_tokens=math.ceil(completion_chars / 4),
        estimated=True,
    )


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
        if usage is None:  # adapters always yield one; keep chat() total anyway
            usage = estimate_usage(request, len(text))
        return ChatResult(
            text=text,
            tool_calls=[calls[i] for i in sorted(calls)],
            finish_reason=finish_reason,
            model=model,
            usage=usage,
        )
