"""Token counts guessed from a request, for when the upstream reports none (a stream cut short, a
self-hosted server that sends no usage) and, before a chat goes out, to reserve its cost.  Every
row counted this way is flagged ``estimated``.  Never raises, whatever the request holds.

How (calibrated against OpenAI's o200k tokenizer on ``tests/test_estimate.py``'s corpus, where the
text estimate stays within 0.75-1.35 of the real count; see the README):

* **text**: about four ASCII characters per token, and a token for every 1.4 other characters
  (accented, Cyrillic, CJK and emoji text tokenizes far denser than English);
* **chat framing**: 3 tokens per message (its role and separators) and 3 to prime the answer, as
  OpenAI documents for its chat models; a message's ``name`` adds one;
* **tools**: their JSON definitions, which punctuation makes denser than prose (3 characters a
  token), plus 8 per tool for the wrapper the vendor puts around them; tool calls and their
  arguments in the history count as their JSON;
* **images**: by the wire protocol, from the image's size when it is a data URL we can read (PNG,
  GIF, JPEG, WebP): OpenAI's tiles (85 + 170 per 512-pixel tile of the image scaled to fit
  2048 and then 768 on its short side; 85 for ``detail: low``), Anthropic's width x height / 750
  (at most 1,600), Gemini's flat 258; an image we cannot size counts as a typical one.

No tokenizer is loaded at run time: the one offline tokenizer package measured here
(bpe-openai, OpenAI's vocabularies) costs about 150 MB per worker, and where an estimate is
needed the model is usually not an OpenAI one, whose tokenizer it would not be anyway.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

from endpoints.providers.base import ChatRequest, Usage

ASCII_CHARS_PER_TOKEN = 4.0
OTHER_CHARS_PER_TOKEN = 1.4
JSON_CHARS_PER_TOKEN = 3.0
MESSAGE_TOKENS = 3
REPLY_PRIMING_TOKENS = 3
TOOL_TOKENS = 8
#: A typical picture's tokens when its size is unknown, by wire protocol (OpenAI: 1024 x 1024 in
#: high detail; Anthropic: about 1,100 x 1,100; Gemini: any image).
IMAGE_TOKENS = {"openai": 765, "azure": 765, "anthropic": 1600, "google": 258}
DEFAULT_IMAGE_TOKENS = 765


def text_tokens(text: str) -> int:
    if not text:
        return 0
    if text.isascii():
        return math.ceil(len(text) / ASCII_CHARS_PER_TOKEN)
    other = sum(1 for char in text if ord(char) > 127)
    return math.ceil((len(text) - other) / ASCII_CHARS_PER_TOKEN + other / OTHER_CHARS_PER_TOKEN)


def _json_tokens(value: Any) -> int:
    try:
        return math.ceil(len(json.dumps(value, ensure_ascii=False, default=str)) / JSON_CHARS_PER_TOKEN)
    except (ValueError, RecursionError):
        return 0


# --- images -----------------------------------------------------------------------------------


def _size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first bytes of a PNG, GIF, JPEG or WebP file."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def _image_size(part: dict[str, Any]) -> tuple[int, int] | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        return None
    head = url.split(",", 1)[1][:4096]  # enough for any header we read
    try:
        size = _size(base64.b64decode(head[: len(head) - len(head) % 4], validate=False))
    except ValueError:
        return None
    return size if size and size[0] > 0 and size[1] > 0 else None


def image_tokens(part: dict[str, Any], wire: str) -> int:
    size = _image_size(part)
    if size is None:
        return IMAGE_TOKENS.get(wire, DEFAULT_IMAGE_TOKENS)
    width, height = size
    if wire == "google":
        return IMAGE_TOKENS["google"]
    if wire == "anthropic":
        return min(1600, math.ceil(width * height / 750))
    detail = (part.get("image_url") or {}).get("detail") if isinstance(part.get("image_url"), dict) else None
    if detail == "low":
        return 85
    scale = min(1.0, 2048 / max(width, height))  # OpenAI: fit in 2048 x 2048, then 768 on the short side
    scale *= min(1.0, 768 / (min(width, height) * scale))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return 85 + 170 * tiles


# --- requests ---------------------------------------------------------------------------------


def _content_tokens(content: Any, wire: str) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                total += image_tokens(part, wire)
            elif isinstance(part.get("text"), str):
                total += text_tokens(part["text"])
    return total


def prompt_tokens(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, wire: str = "openai"
) -> int:
    """The prompt of a chat: its messages (text, images, tool calls) with their framing, and the tools."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += MESSAGE_TOKENS + _content_tokens(message.get("content"), wire)
        if isinstance(message.get("name"), str):
            total += 1
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            total += _json_tokens(calls)
    if tools:
        total += _json_tokens(tools) + TOOL_TOKENS * len(tools)
    return total


def estimate_usage(request: ChatRequest, completion: str | int, wire: str = "openai") -> Usage:
    """The usage of an answer the upstream reported none for: ``completion`` is its text (best), or
    only how many characters it had (then four a token)."""
    if isinstance(completion, str):
        answer = text_tokens(completion)
    else:
        answer = math.ceil(completion / ASCII_CHARS_PER_TOKEN)
    return Usage(prompt_tokens(request.messages, request.tools, wire), answer, estimated=True)
