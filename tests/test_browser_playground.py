"""The playground in a real browser: Playwright driving Debian's chromium against the whole
ASGI app (uvicorn, so ``POST /api/chat`` streams through the channels consumer), with a custom
endpoint pointing at the fake OpenAI upstream.

Sign in, pick the endpoint, send a message, watch "Hello, world!" stream in with its tokens and
cost; ask a follow-up that carries the conversation; see an upstream 401 as a clear error; stop
a slow answer.  On failure a screenshot is saved in ``test-artifacts/``.  Playwright's sync API
keeps an event loop in the test's thread, so everything touching the database happens in the
``app`` fixture, before the browser starts.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import requires_chromium, screenshot_on_failure
from tests.fakes.script import Reply
from tests.helpers import make_user, seed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # WhiteNoise (in MIDDLEWARE) warns that STATIC_ROOT was never collected; the handler below serves /static/.
    requires_chromium,
]


def config(openai: str) -> str:
    return f"""
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{openai}'
      models:
        default: ['gpt-4o', {{name: 'flaky', fallbacks: ['other/other-model']}}]
    - name: other
      apiKey: test-key
      baseURL: '{openai}'
      models:
        default: ['other-model']
"""


@pytest.fixture
def app(settings, fake_openai, asgi_server):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users; not under test
    seed(config(fake_openai.base_url))
    make_user("alice")
    return asgi_server.url


def sign_in_to_the_playground(page, app: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{app}/playground/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/playground/$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("pw-alice")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{app}/playground/")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()  # the script has loaded


def pick(page, endpoint: str, model: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Endpoint").select_option(endpoint)
    expect(page.get_by_label("Model").locator("option")).to_have_count(2 if endpoint == "fakeai" else 1)
    page.get_by_label("Model").select_option(model)


def send(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_it_streams_an_answer_and_shows_its_tokens_and_cost(app, page, fake_openai):
    from playwright.sync_api import expect

    with screenshot_on_failure(page, "test_it_streams_an_answer_and_shows_its_tokens_and_cost"):
        sign_in_to_the_playground(page, app)
        page.get_by_label("Endpoint").select_option("other")
        expect(page.get_by_label("Model")).to_have_value("other-model")  # the model list follows the endpoint
        pick(page, "fakeai", "gpt-4o")
        expect(page.get_by_label("Model").locator("option")).to_have_text(["gpt-4o", "flaky"])
        page.get_by_text("Options").click()
        page.get_by_label("System prompt").fill("Answer briefly.")
        page.get_by_label("Temperature").fill("0.3")
        send(page, "Say hello")

        answer = page.locator(".turn-assistant").last
        expect(answer.locator(".text")).to_have_text("Hello, world!")
        usage = answer.locator(".usage")
        expect(usage.locator("dt", has_text="Prompt tokens").locator("+ dd")).to_have_text("12")
        expect(usage.locator("dt", has_text="Completion tokens").locator("+ dd")).to_have_text("7")
        expect(usage.locator("dt", has_text="Total tokens").locator("+ dd")).to_have_text("19")
        expect(usage.locator("dt", has_text="Cost (USD)").locator("+ dd")).to_have_text(re.compile(r"^\$0\.0001\d*$"))
        expect(usage.locator("dt", has_text="Answered by").locator("+ dd")).to_have_text("fakeai / gpt-4o")
        expect(page.get_by_role("status")).to_contain_text("Answer complete: 19 tokens")
        expect(page.locator("#pg-error")).to_be_hidden()
        expect(page.get_by_label("Message")).to_have_value("")

        sent = fake_openai.last.json
        assert sent["model"] == "gpt-4o" and sent["stream"] is True
        assert sent["temperature"] == 0.3
        assert sent["messages"] == [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Say hello"},
        ]

        send(page, "And again?")
        expect(page.locator(".turn-assistant")).to_have_count(2)
        expect(page.locator(".turn-assistant").last.locator(".usage")).to_be_visible()
        assert fake_openai.last.json["messages"] == [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Say hello"},
            {"role": "assistant", "content": "Hello, world!"},
            {"role": "user", "content": "And again?"},
        ]


def test_it_shows_the_error_when_the_upstream_refuses_the_key(app, page, fake_openai):
    from playwright.sync_api import expect

    fake_openai.reply = Reply(status=401)
    with screenshot_on_failure(page, "test_it_shows_the_error_when_the_upstream_refuses_the_key"):
        sign_in_to_the_playground(page, app)
        pick(page, "fakeai", "gpt-4o")
        send(page, "Say hello")

        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Error (invalid_api_key): The provider rejected the API key.")
        expect(page.locator(".turn-assistant .note")).to_have_text("This turn is not part of the conversation.")
        expect(page.get_by_label("Message")).to_have_value("Say hello")  # ready to retry
        expect(page.get_by_role("button", name="Send")).to_be_enabled()
        assert "test-key" not in page.content()

        fake_openai.reply = Reply()
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".turn-assistant").last.locator(".text")).to_have_text("Hello, world!")
        expect(alert).to_be_hidden()
        assert fake_openai.last.json["messages"] == [{"role": "user", "content": "Say hello"}]


def test_it_notes_a_fallback_and_an_unknown_cost(app, page, fake_openai):
    from playwright.sync_api import expect

    fake_openai.models = None  # any model id
    fake_openai.script(Reply(status=500))  # flaky fails, its fallback answers
    with screenshot_on_failure(page, "test_it_notes_a_fallback_and_an_unknown_cost"):
        sign_in_to_the_playground(page, app)
        pick(page, "fakeai", "flaky")
        send(page, "Say hello")

        answer = page.locator(".turn-assistant").last
        expect(answer.locator(".text")).to_have_text("Hello, world!")
        expect(answer.locator(".note.fallback")).to_have_text(
            "Fallback: fakeai / flaky failed (upstream_error), answered by other / other-model."
        )
        usage = answer.locator(".usage")
        expect(usage.locator("dt", has_text="Answered by").locator("+ dd")).to_have_text("other / other-model")
        expect(usage.locator("dt", has_text="Cost (USD)").locator("+ dd")).to_have_text("unknown")
        expect(answer.locator(".who")).to_have_text("other / other-model")


def test_it_stops_a_streaming_answer(app, page, fake_openai):
    from playwright.sync_api import expect

    fake_openai.reply = Reply(text=["Once", " upon", " a", " time", " and", " so", " on"], delay=0.4)
    with screenshot_on_failure(page, "test_it_stops_a_streaming_answer"):
        sign_in_to_the_playground(page, app)
        pick(page, "fakeai", "gpt-4o")
        send(page, "Tell me a story")

        answer = page.locator(".turn-assistant").last
        expect(answer.locator(".text")).to_contain_text("Once")
        page.get_by_role("button", name="Stop").click()
        expect(answer.locator(".note")).to_have_text("Stopped. This turn is not part of the conversation.")
        expect(page.get_by_role("status")).to_have_text("Stopped.")
        assert "time and so on" not in answer.locator(".text").text_content()
        expect(page.get_by_role("button", name="Send")).to_be_enabled()
        assert fake_openai.wait_for(lambda: fake_openai.disconnects >= 1, timeout=5)
