"""Usage from model servers that send none in a stream (llama.cpp, several self-hosted servers):
a non-streamed chat is asked without streaming, so the server's real counts are recorded; a streamed
one is estimated here and every place that shows it says so."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from tests.every_endpoint import ENDPOINTS, configure
from tests.fakes.server import Reply
from tests.helpers import make_user, recorded

pytestmark = pytest.mark.django_db(transaction=True)

#: A question long enough that an estimate cannot land on the server's figure by chance.
QUESTION = [
    {"role": "system", "content": "You are a terse assistant. Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France, and on which river does it stand?"},
]
#: What the server reports when asked without streaming; a stream from it carries no usage.
SILENT_IN_STREAMS = Reply(text=["Paris", ", on the Seine."], prompt_tokens=41, completion_tokens=9, usage=False)


@pytest.fixture
def token(settings, fake_openai, fake_anthropic, fake_google, fake_azure) -> str:
    configure(settings, fake_openai, fake_anthropic, fake_google, fake_azure)
    for fake in (fake_openai, fake_anthropic, fake_google, fake_azure):
        fake.reply = SILENT_IN_STREAMS
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=make_user()).key


@pytest.fixture
def sdk(token, asgi_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{asgi_server.url}/v1", api_key=token, max_retries=0, timeout=20)


def asked_without_streaming(fake: Any) -> bool:
    sent = fake.last
    if sent.path.endswith(":generateContent"):  # Gemini: a separate method, not a flag
        return True
    if sent.path.endswith(":streamGenerateContent"):
        return False
    return (sent.json or {}).get("stream") is not True


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_a_non_streamed_chat_records_the_servers_own_counts(sdk, request, model, upstream):
    answer = sdk.chat.completions.create(model=model, messages=QUESTION)

    assert answer.choices[0].message.content == "Paris, on the Seine."
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (41, 9)
    assert asked_without_streaming(request.getfixturevalue(upstream))
    record = recorded()
    assert (record.status, record.prompt_tokens, record.completion_tokens, record.estimated) == ("ok", 41, 9, False)


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_a_streamed_chat_without_usage_is_estimated_and_flagged(sdk, request, model, upstream):
    chunks = list(
        sdk.chat.completions.create(model=model, messages=QUESTION, stream=True, stream_options={"include_usage": True})
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris, on the Seine."
    assert not asked_without_streaming(request.getfixturevalue(upstream))
    record = recorded()
    assert record.status == "ok" and record.estimated is True
    # An honest estimate: two messages' words and their chat-format overhead, not the server's figure,
    # and not the bare word count either (the old estimate gave 3 prompt tokens for a 12-token prompt).
    assert 25 <= record.prompt_tokens <= 45 and record.prompt_tokens != 41
    assert 3 <= record.completion_tokens <= 8
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
        record.prompt_tokens,
        record.completion_tokens,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_librechat_api_reports_the_same_flag(token, asgi_server, fake_openai, stream):
    body = {"endpoint": "fakeai", "model": "gpt-4o", "messages": QUESTION, "stream": stream}
    response = httpx2.post(
        f"{asgi_server.url}/api/chat", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=20
    )

    assert response.status_code == 200
    record = recorded()
    assert record.estimated is stream
    assert (record.prompt_tokens, record.completion_tokens) == (41, 9) or stream
    shown = httpx2.get(f"{asgi_server.url}/api/usage", headers={"Authorization": f"Bearer {token}"}, timeout=20).json()
    assert [r["estimated"] for r in shown["results"]] == [stream]


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_a_non_streamed_anthropic_format_call_records_the_servers_own_counts(
    token, asgi_server, request, model, upstream
):
    body = {"model": model, "max_tokens": 64, "system": QUESTION[0]["content"], "messages": QUESTION[1:]}
    headers = {"x-api-key": token, "anthropic-version": "2023-06-01"}
    answer = httpx2.post(f"{asgi_server.url}/v1/messages", json=body, headers=headers, timeout=20).json()

    assert answer["content"] == [{"type": "text", "text": "Paris, on the Seine."}]
    assert (answer["usage"]["input_tokens"], answer["usage"]["output_tokens"]) == (41, 9)
    assert asked_without_streaming(request.getfixturevalue(upstream))
    record = recorded()
    assert (record.prompt_tokens, record.completion_tokens, record.estimated) == (41, 9, False)
