"""The token estimates against a real tokenizer (OpenAI's o200k, from bpe-openai, offline) on a
fixed corpus: within the factor the README documents, for text in many languages and shapes, for
whole chats with their framing, and never an error whatever a request holds."""

# ruff: noqa: RUF001  (the corpus is text in other scripts on purpose)
from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

import bpe_openai
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from endpoints.providers.estimate import ANALYSED_CHARS, image_tokens, prompt_tokens, text_tokens

#: The documented factor: an estimate is within these bounds of the real count.
LOW, HIGH = 0.75, 1.35

CORPUS = {
    "english prose": "The quick brown fox jumps over the lazy dog. Meanwhile, the committee reviewed the quarterly budget and decided to postpone the vote until every member had read the auditor's report in full.",
    "short question": "What is the capital of France, and on which river does it stand?",
    "instructions": "You are a helpful assistant. Answer concisely, cite your sources, and never invent facts. If you are unsure, say so plainly.",
    "python code": "def fibonacci(n: int) -> list[int]:\n    seq = [0, 1]\n    while len(seq) < n:\n        seq.append(seq[-1] + seq[-2])\n    return seq[:n]\n\nprint(fibonacci(10))\n",
    "javascript code": "const users = await fetch('/api/users?limit=20').then((r) => r.json());\nusers.filter((u) => u.active).forEach((u) => console.log(`${u.id}: ${u.name}`));",
    "json": '{"id": "chatcmpl-123", "object": "chat.completion", "created": 1700000000, "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]}',
    "markdown table": "| Model | Input $/1M | Output $/1M |\n|---|---:|---:|\n| gpt-4o | 2.50 | 10.00 |\n| claude-sonnet-4-5 | 3.00 | 15.00 |",
    "numbers": "Order 48213 shipped on 2026-11-04 at 14:32:07; total 1,284.50 EUR, tracking 1Z999AA10123456784.",
    "url and path": "See https://docs.example.com/v2/reference/chat/completions#request-body and /var/lib/postgresql/16/main/base.",
    "german": "Die Bundesregierung hat am Mittwoch beschlossen, die Förderung für erneuerbare Energien deutlich auszuweiten und Genehmigungsverfahren zu beschleunigen.",
    "french": "Le gouvernement a annoncé mercredi une réforme des retraites qui prévoit un relèvement progressif de l'âge légal de départ à soixante-quatre ans.",
    "spanish": "El equipo ganó el campeonato después de una temporada extraordinaria, con una defensa sólida y un ataque que sorprendió a todos los aficionados.",
    "russian": "Правительство объявило о новых мерах поддержки малого бизнеса, включая налоговые льготы и упрощённую процедуру регистрации предприятий.",
    "chinese": "人工智能正在改变我们的生活方式，从智能手机上的语音助手到自动驾驶汽车，技术的进步令人惊叹。",
    "japanese": "東京の天気は明日晴れる見込みですが、夕方からは雨が降る可能性があるので傘を持って行ってください。",
    "korean": "오늘 회의에서는 다음 분기의 마케팅 전략과 예산 배분에 대해 논의할 예정입니다.",
    "arabic": "أعلنت الحكومة عن خطة جديدة لتطوير البنية التحتية في المدن الكبرى خلال السنوات الخمس القادمة.",
    "hindi": "भारत सरकार ने ग्रामीण क्षेत्रों में डिजिटल साक्षरता बढ़ाने के लिए एक नई योजना शुरू की है।",
    "emoji chat": "Great job team!!! 🎉🎉 Launch went smoothly 🚀 — coffee's on me tomorrow ☕️ 😄",
    "mixed": "Translate 'good morning' into Japanese: おはようございます (ohayō gozaimasu). In Russian: доброе утро.",
    "sql": "SELECT u.id, u.email, COUNT(o.id) AS orders FROM users u LEFT JOIN orders o ON o.user_id = u.id WHERE u.created_at > NOW() - INTERVAL '30 days' GROUP BY u.id, u.email ORDER BY orders DESC LIMIT 10;",
    "log lines": '2026-12-03T12:30:52Z INFO  uvicorn.access 127.0.0.1:53122 - "POST /v1/chat/completions HTTP/1.1" 200\n2026-12-03T12:30:53Z WARN  endpoints.chat upstream 429, retry after 2s',
}

O200K = bpe_openai.get_encoding("o200k_base")


def real(text: str) -> int:
    return len(O200K.encode(text))


def real_chat(messages: list[dict[str, Any]]) -> int:
    """OpenAI's documented count for its chat models: 3 per message, its role and content, 3 to prime."""
    return 3 + sum(3 + real(m["role"]) + real(m["content"]) for m in messages)


@pytest.mark.parametrize("name", list(CORPUS))
def test_text_is_estimated_within_the_documented_factor(name):
    text = CORPUS[name]
    assert LOW <= text_tokens(text) / real(text) <= HIGH, (text_tokens(text), real(text))


def test_the_corpus_as_a_whole_is_close():
    text = "\n\n".join(CORPUS.values())
    assert 0.9 <= text_tokens(text) / real(text) <= 1.1


def test_a_long_text_is_counted_at_the_rate_of_its_beginning():
    paragraph = CORPUS["english prose"] + "\n" + CORPUS["python code"]
    long = paragraph * (3 * ANALYSED_CHARS // len(paragraph))
    assert len(long) > 2 * ANALYSED_CHARS
    assert LOW <= text_tokens(long) / real(long) <= HIGH


CHATS = {
    "one question": [{"role": "user", "content": CORPUS["short question"]}],
    "system and user": [
        {"role": "system", "content": CORPUS["instructions"]},
        {"role": "user", "content": CORPUS["short question"]},
    ],
    "a conversation": [
        {"role": "system", "content": CORPUS["instructions"]},
        {"role": "user", "content": "Write a function that returns the first n Fibonacci numbers."},
        {"role": "assistant", "content": CORPUS["python code"]},
        {"role": "user", "content": "Now in JavaScript, and fetch the users too."},
        {"role": "assistant", "content": CORPUS["javascript code"]},
        {"role": "user", "content": "Thanks! " + CORPUS["emoji chat"]},
    ],
    "multilingual": [{"role": "user", "content": CORPUS[lang]} for lang in ("german", "russian", "chinese")],
    "many short turns": [{"role": r, "content": t} for r, t in [("user", "Hi"), ("assistant", "Hello!")] * 10],
}


@pytest.mark.parametrize("name", list(CHATS))
def test_a_chat_with_its_framing_is_estimated_within_the_documented_factor(name):
    messages = CHATS[name]
    assert LOW <= prompt_tokens(messages) / real_chat(messages) <= HIGH, (prompt_tokens(messages), real_chat(messages))


def test_tools_count_their_definitions():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The current weather in a city, in Celsius.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    question = [{"role": "user", "content": "Weather in Paris?"}]
    with_tools = prompt_tokens(question, tools) - prompt_tokens(question)
    definitions = real(json.dumps(tools))
    assert definitions <= with_tools <= definitions * HIGH + 10


def png(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", width, height)
    header += b"\x08\x02\x00\x00\x00" + struct.pack(">I", zlib.crc32(header[12:29]))
    return "data:image/png;base64," + base64.b64encode(header).decode()


@pytest.mark.parametrize(
    ("size", "wire", "tokens"),
    [
        ((1024, 1024), "openai", 765),  # OpenAI's documented example: 4 tiles of 512 after scaling to 768
        ((2048, 4096), "openai", 1105),  # scaled to 1024 x 2048, then 768 x 1536: 6 tiles
        ((512, 512), "anthropic", 350),  # 512 * 512 / 750
        ((4000, 4000), "anthropic", 1600),  # Anthropic's cap
        ((1024, 1024), "google", 258),
    ],
)
def test_images_count_by_their_size_and_the_vendors_rule(size, wire, tokens):
    assert image_tokens({"type": "image_url", "image_url": {"url": png(*size)}}, wire) == tokens


def test_a_low_detail_image_is_85_tokens_and_an_unreadable_one_a_typical_one():
    part = {"type": "image_url", "image_url": {"url": png(4000, 3000), "detail": "low"}}
    assert image_tokens(part, "openai") == 85
    assert image_tokens({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}, "openai") == 765


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(messages=st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=4) | json_values, max_size=6),
       tools=st.none() | st.lists(json_values, max_size=3), wire=st.sampled_from(["openai", "anthropic", "google"]))  # fmt: skip
def test_it_never_raises_and_never_goes_below_the_framing(messages, tools, wire):
    counted = prompt_tokens(messages, tools, wire)  # type: ignore[arg-type]
    framed = 3 + 4 * sum(1 for m in messages if isinstance(m, dict))
    assert isinstance(counted, int) and counted >= framed


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400))
@example(text="\u06e7")  # a combining mark alone: no letter to sit on, still a token
@example(text="\u06e7\u06e7 x")
def test_more_text_never_counts_fewer_tokens(text):
    assert text_tokens(text + " and more") >= text_tokens(text) >= (1 if text.strip() else 0)
