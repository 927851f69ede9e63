"""Anthropic's Messages API request body as a :class:`ChatCall` in OpenAI's chat format, which every
provider adapter reads (https://docs.anthropic.com/en/api/messages).

* ``system`` (a string or text blocks) becomes the first, system, message;
* ``text`` and ``image`` blocks (``base64`` or ``url`` sources) become text and ``image_url`` parts;
* an assistant's ``tool_use`` blocks become its ``tool_calls`` (``input`` as JSON arguments), and a
  user's ``tool_result`` blocks become ``tool`` messages, in order, before the rest of its turn
  (images in a result follow them as a user message: OpenAI's tool messages hold text only);
* ``thinking`` blocks of earlier turns are dropped (no other vendor reads them);
* ``tools`` (``input_schema``) become functions, ``tool_choice`` ``auto``/``any``/``tool``/``none``
  become ``auto``/``required``/a named function/``none`` (``disable_parallel_tool_use``:
  ``parallel_tool_calls: false``, sent to OpenAI-style upstreams), ``stop_sequences`` become
  ``stop``; ``max_tokens`` is required, as Anthropic requires it.

Anthropic-only features this gateway cannot route to every vendor (documents, files, server
tools such as web search) are refused with ``invalid_request`` naming the field; ``top_k``,
``thinking``, ``service_tier`` and other keys are accepted and not sent on.  ``model`` is still
the string the client sent: :mod:`endpoints.gateway.names` resolves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.errors import ApiError
from endpoints.chat import request as checks
from endpoints.chat.request import ChatCall, Errors

#: Blocks of earlier assistant turns that carry nothing another vendor can read.
_SKIPPED = frozenset({"thinking", "redacted_thinking"})
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


@dataclass(slots=True)
class MessagesRequest:
    model: str  # as sent: "<endpoint>/<model id>" or a bare model id
    call: ChatCall
    user_id: Any  # metadata.user_id: a service token's end user, when no header named one


def _image(block: dict[str, Any], where: str, errors: Errors) -> dict[str, Any] | None:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        media, data = source.get("media_type"), source.get("data")
        if isinstance(media, str) and media and isinstance(data, str) and data:
            return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    elif kind == "url" and isinstance(source, dict) and isinstance(source.get("url"), str) and source["url"]:
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    errors.add(f"{where}.source", "Must be {type: base64, media_type, data} or {type: url, url} (files are not "
               "supported here).")  # fmt: skip
    return None


def _text(block: dict[str, Any], where: str, errors: Errors) -> str | None:
    text = block.get("text")
    if not isinstance(text, str):
        errors.add(f"{where}.text", "Must be a string.")
        return None
    return text


def _unsupported(kind: Any, where: str, errors: Errors) -> None:
    if kind == "document":
        errors.add(where, "Document blocks (PDF, plain text sources) are not supported through this gateway.")
    else:
        errors.add(where, f"Block type {kind!r} is not supported here; send text, image, tool_use or tool_result.")


def _parts_of(blocks: Any, where: str, errors: Errors) -> tuple[str, list[dict[str, Any]]]:
    """A tool result's content: its text, and its images as parts."""
    if isinstance(blocks, str):
        return blocks, []
    if blocks is None:
        return "", []
    if not isinstance(blocks, list):
        errors.add(where, "Must be a string or a list of text and image blocks.")
        return "", []
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        here = f"{where}[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block, dict):
            if (text := _text(block, here, errors)) is not None:
                texts.append(text)
        elif kind == "image" and isinstance(block, dict):
            if (part := _image(block, here, errors)) is not None:
                images.append(part)
        else:
            _unsupported(kind, here, errors)
    return "\n".join(texts), images


def _tool_call(block: dict[str, Any], where: str, errors: Errors) -> dict[str, Any] | None:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        errors.add(where, "A tool_use block needs an id and a name.")
        return None
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def _assistant(blocks: list[Any], where: str, errors: Errors) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        here = f"{where}.content[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block, dict):
            if (text := _text(block, here, errors)) is not None:
                texts.append(text)
        elif kind == "tool_use" and isinstance(block, dict):
            if (call := _tool_call(block, here, errors)) is not None:
                calls.append(call)
        elif not isinstance(kind, str) or kind not in _SKIPPED:
            _unsupported(kind, here, errors)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(blocks: list[Any], where: str, errors: Errors) -> list[dict[str, Any]]:
    """Tool results first (as ``tool`` messages), then the rest of the turn as one user message."""
    answers: list[dict[str, Any]] = []
    shown: list[dict[str, Any]] = []  # images of the results: they open the user turn after the results
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        here = f"{where}.content[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(block, dict):
            _unsupported(kind, here, errors)
        elif kind == "text":
            if (text := _text(block, here, errors)) is not None:
                parts.append({"type": "text", "text": text})
        elif kind == "image":
            if (part := _image(block, here, errors)) is not None:
                parts.append(part)
        elif kind == "tool_result":
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or not call_id:
                errors.add(f"{here}.tool_use_id", "Must name the tool_use block this result answers.")
                continue
            text, images = _parts_of(block.get("content"), f"{here}.content", errors)
            answers.append({"role": "tool", "tool_call_id": call_id, "content": text})
            shown += images
        else:
            _unsupported(kind, here, errors)
    parts = shown + parts
    if not parts:
        return answers
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*answers, {"role": "user", "content": parts[0]["text"]}]
    return [*answers, {"role": "user", "content": parts}]


def messages(value: Any, errors: Errors) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        errors.add("messages", "Must be a non-empty list of {role, content}.")
        return []
    out: list[dict[str, Any]] = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant") or not isinstance(message, dict):
            errors.add(f"{where}.role", "Must be user or assistant.")
            continue
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        elif not isinstance(content, list) or not content:
            errors.add(f"{where}.content", "Must be a string or a non-empty list of content blocks.")
        elif role == "assistant":
            out.append(_assistant(content, where, errors))
        else:
            out.extend(_user(content, where, errors))
    if not out and not errors.items:  # e.g. only blocks that carry nothing for another vendor
        errors.add("messages", "Holds nothing to answer.")
    return out


def system(value: Any, errors: Errors) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in value):
        texts = [b.get("text") for b in value]
        if all(isinstance(t, str) for t in texts):
            return "\n\n".join(t for t in texts if t)
    errors.add("system", "Must be a string or a list of {type: text, text} blocks.")
    return ""


def tools(value: Any, errors: Errors) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        errors.add("tools", "Must be a list of {name, description, input_schema}.")
        return None
    out = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            errors.add(where, "Must be {name, description, input_schema}.")
        elif tool.get("type") not in (None, "custom"):
            errors.add(f"{where}.type", f"Server tools ({tool['type']!r}) are not supported; define a custom tool.")
        elif not isinstance(tool.get("name"), str) or not tool["name"]:
            errors.add(f"{where}.name", "Must be a non-empty string.")
        elif not isinstance(tool.get("input_schema"), dict):
            errors.add(f"{where}.input_schema", "Must be a JSON Schema object.")
        elif not isinstance(tool.get("description", ""), str):
            errors.add(f"{where}.description", "Must be a string.")
        else:
            function = {"name": tool["name"], "parameters": tool["input_schema"]}
            if tool.get("description"):
                function["description"] = tool["description"]
            out.append({"type": "function", "function": function})
    return out or None


def tool_choice(value: Any, errors: Errors) -> tuple[Any, bool]:
    """(OpenAI's tool_choice, whether parallel tool calls are off)."""
    if value is None:
        return None, False
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(value, dict) or kind not in ("auto", "any", "tool", "none"):
        errors.add("tool_choice", "Must be {type: auto | any | none} or {type: tool, name}.")
        return None, False
    serial = value.get("disable_parallel_tool_use")
    if serial is not None and not isinstance(serial, bool):
        errors.add("tool_choice.disable_parallel_tool_use", "Must be true or false.")
    if value.get("name") is not None and not isinstance(value["name"], str):
        errors.add("tool_choice.name", "Must be a string.")
    serial = serial is True
    if kind == "tool":
        if not isinstance(value.get("name"), str) or not value["name"]:
            errors.add("tool_choice.name", "Must name the tool.")
            return None, False
        return {"type": "function", "function": {"name": value["name"]}}, serial
    return _TOOL_CHOICES[kind], serial


def _stop(value: Any, errors: Errors) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(s, str) and s for s in value):
        return value or None
    errors.add("stop_sequences", "Must be a list of non-empty strings.")
    return None


def _user_id(data: dict[str, Any], errors: Errors) -> Any:
    metadata = data.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        errors.add("metadata", "Must be an object such as {user_id}.")
        return None
    user_id = metadata.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        errors.add("metadata.user_id", "Must be a string.")
        return None
    return user_id


def parse_messages(data: Any, *, counting: bool = False) -> MessagesRequest:
    """Validate a Messages API body (``counting``: a count_tokens body, which has no max_tokens)."""
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "The body must be a JSON object.", errors={"body": ["Must be an object."]})
    errors = Errors()
    model = data.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 400 or "\x00" in model:
        errors.add("model", 'Required: "<endpoint>/<model id>", or a model id listed by GET /v1/models.')
        model = ""
    prompt = system(data.get("system"), errors)
    converted = messages(data.get("messages"), errors)
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        errors.add("stream", "Must be true or false.")
    max_tokens = checks.whole(data, "max_tokens", "max_tokens", errors)
    if max_tokens is None and not counting and "max_tokens" not in errors.items:
        errors.add("max_tokens", "Required: the most tokens the answer may have, as Anthropic requires.")
    choice, serial = tool_choice(data.get("tool_choice"), errors)
    functions = tools(data.get("tools"), errors)
    call = ChatCall(
        endpoint="",
        model=model,
        messages=([{"role": "system", "content": prompt}] if prompt else []) + converted,
        conversation_id="",
        stream=stream is True,
        temperature=checks.number(data, "temperature", "temperature", errors, 0, 1),
        top_p=checks.number(data, "top_p", "top_p", errors, 0, 1),
        max_tokens=max_tokens,
        stop=_stop(data.get("stop_sequences"), errors),
        tools=functions,
        tool_choice=choice if functions else None,
        extra={"parallel_tool_calls": False} if serial and functions else {},
    )
    user_id = _user_id(data, errors)
    errors.raise_if_any(lambda items: "{}: {}".format(*next((where, problems[0]) for where, problems in items.items())))
    return MessagesRequest(model=model, call=call, user_id=user_id)
