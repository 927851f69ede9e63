"""Token counts guessed from a request, for when the upstream reports none (a stream cut short, a
self-hosted server that sends no usage) and, before a chat goes out, to reserve its cost.  Every
row counted this way is flagged ``estimated``.  Never raises, whatever the request holds.

How (calibrated against OpenAI's o200k tokenizer on ``tests/test_estimate.py``'s corpus of prose in
twelve languages, code, JSON, tables, numbers, URLs, logs and emoji, where the text estimate stays
within 0.75-1.35 of the real count; see the README):

* **text**: cut into the pieces a byte-pair tokenizer pre-splits text into, then counted per piece:
  a short word is a token, a long one a token per three more letters; digits go by threes; a run
  of punctuation is about a token per two marks, its last one joining the word after it; CJK text
  is about 1.5 characters a token, other scripts' words 4.5, an emoji 1.3 tokens;
* **chat framing**: 4 tokens per message (3 for its separators and 1 for its role) and 3 to prime
  the answer, as OpenAI documents for its chat models; a message's ``name`` adds one;
* **tools**: their JSON definitions counted as text, plus 8 per tool for the wrapper the vendor
  puts around them; tool calls and their arguments in the history count as their JSON;
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
import re
import struct
import unicodedata
from typing import Any

from endpoints.providers.base import ChatRequest, Usage

#: Characters per token when only a length is known (English-like text).
CHARS_PER_TOKEN = 4
#: A chat message's framing (its role and the separators around it), and the answer's priming, as
#: OpenAI documents for its chat models.
MESSAGE_TOKENS = 4
REPLY_PRIMING_TOKENS = 3
TOOL_TOKENS = 8
#: A typical picture's tokens when its size is unknown, by wire protocol (OpenAI: 1024 x 1024 in
#: high detail; Anthropic: about 1,100 x 1,100; Gemini: any image).
IMAGE_TOKENS = {"openai": 765, "azure": 765, "anthropic": 1600, "google": 258}
DEFAULT_IMAGE_TOKENS = 765
#: Characters read piece by piece per request; the rest is counted at the rate measured on them, so
#: that a long prompt costs the event loop about a millisecond at most.
ANALYSED_CHARS = 4096

# --- text -------------------------------------------------------------------------------------

#: The pieces a byte-pair tokenizer's pre-splitting cuts text into: words, whitespace, digits,
#: punctuation.  A tokenizer never merges across them, so counting tokens per piece is close.
_PIECES = re.compile(r"([^\W\d_]+)|(\s+)|(\d+)|([^\w\s]+|_+)")
#: Combining marks (Devanagari vowel signs, decomposed accents) deleted, so a word stays one piece.
_MARKS = dict.fromkeys(c for c in range(0x300, 0x10000) if unicodedata.category(chr(c)).startswith("M"))
WORD_LETTERS = 8  # an ASCII word this long is usually one token ...
LETTERS_PER_EXTRA_TOKEN = 3  # ... a longer one, one more per three letters
ACCENT_TOKENS = 0.3  # a Latin letter with an accent, more
DIGITS_PER_TOKEN = 3  # numbers are cut in groups of three digits
CJK_CHARS_PER_TOKEN = 1.5  # Chinese, Japanese, Korean
SCRIPT_CHARS_PER_TOKEN = 4.5  # other scripts' words: Cyrillic, Greek, Arabic, Hebrew, Indic ...
SYMBOL_TOKENS = 1.3  # an emoji or other non-ASCII symbol


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x2E80 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF


def _word_tokens(word: str) -> float:
    if word.isascii() or ord(max(word)) < 0x250:  # Latin, with or without accents
        size = len(word)
        tokens = 1.0 if size <= WORD_LETTERS else 1 + (size - WORD_LETTERS) / LETTERS_PER_EXTRA_TOKEN
        return tokens if word.isascii() else tokens + ACCENT_TOKENS * sum(1 for c in word if c > "\x7f")
    if _is_cjk(word[0]):
        return len(word) / CJK_CHARS_PER_TOKEN
    return max(1.0, len(word) / SCRIPT_CHARS_PER_TOKEN)


def _punctuation_tokens(run: str, joins_next: bool) -> float:
    """A run of punctuation: about one token per two ASCII marks, where the last one before a word
    joins that word (``.example``, ``/users``); a non-ASCII symbol (an emoji) is a token or two."""
    plain = len(run) if run.isascii() else sum(1 for c in run if c < "\x80")
    symbols = len(run) - plain
    if joins_next and run[-1] < "\x80":
        plain -= 1
    return (1 + (plain - 1) / 2 if plain > 0 else 0) + SYMBOL_TOKENS * symbols


def _orphan_marks(text: str) -> int:
    """Combining marks with no letter to sit on (at the start, after a space or a sign): a tokenizer
    spends a token on each, while a mark on a letter is part of that letter's word."""
    count, on_letter = 0, False
    for char in text:
        if ord(char) in _MARKS:
            count += not on_letter
        else:
            on_letter = char.isalnum()
    return count


def _count(text: str) -> float:
    tokens = 0.0
    if not text.isascii():
        bare = text.translate(_MARKS)
        if len(bare) != len(text):
            tokens += _orphan_marks(text)
        text = bare
    for piece in _PIECES.finditer(text):
        word, space, digits, punctuation = piece.groups()
        if word:
            tokens += _word_tokens(word)
        elif space:
            tokens += len(space) > 1 or "\n" in space  # a single space joins the next piece
        elif digits:
            tokens += -(-len(digits) // DIGITS_PER_TOKEN)
        else:
            end = piece.end()
            tokens += _punctuation_tokens(punctuation, end < len(text) and text[end].isalpha())
    return tokens


class _Tally:
    """Counts the texts of one request: the first :data:`ANALYSED_CHARS` characters piece by piece,
    the rest at the rate measured on those."""

    def __init__(self) -> None:
        self.budget = ANALYSED_CHARS
        self.chars = 0
        self.tokens = 0.0

    def text(self, text: str) -> float:
        if not text:
            return 0.0
        if self.budget <= 0:
            return len(text) * self.tokens / self.chars
        head = text[: self.budget]
        counted = _count(head)
        self.budget -= len(head)
        self.chars += len(head)
        self.tokens += counted
        return counted * len(text) / len(head)

    def json(self, value: Any) -> float:
        try:
            return self.text(json.dumps(value, ensure_ascii=False, default=str))
        except (ValueError, RecursionError):
            return 0.0


def text_tokens(text: str) -> int:
    return math.ceil(_Tally().text(text))


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


def _content_tokens(content: Any, wire: str, tally: _Tally) -> float:
    if isinstance(content, str):
        return tally.text(content)
    total = 0.0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                total += image_tokens(part, wire)
            elif isinstance(part.get("text"), str):
                total += tally.text(part["text"])
    return total


def prompt_tokens(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, wire: str = "openai"
) -> int:
    """The prompt of a chat: its messages (text, images, tool calls) with their framing, and the tools."""
    tally = _Tally()
    total = float(REPLY_PRIMING_TOKENS)
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += MESSAGE_TOKENS + _content_tokens(message.get("content"), wire, tally)
        if isinstance(message.get("name"), str):
            total += 1
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            total += tally.json(calls)
    if tools:
        total += tally.json(tools) + TOOL_TOKENS * len(tools)
    return math.ceil(total)


def estimate_usage(request: ChatRequest, completion: str | int, wire: str = "openai") -> Usage:
    """The usage of an answer the upstream reported none for: ``completion`` is its text (best), or
    only how many characters it had (then four a token)."""
    if isinstance(completion, str):
        answer = text_tokens(completion)
    else:
        answer = math.ceil(completion / CHARS_PER_TOKEN)
    return Usage(prompt_tokens(request.messages, request.tools, wire), answer, estimated=True)
