"""Assistants and Azure Assistants: listing, runs (streamed and polled), threads, tool calls,
steps, usage and failures, over a real ASGI server against the fake Assistants upstreams."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tests.fakes.assistants import FakeAssistants, RunPlan, ToolCall
from tests.fakes.assistants_fixtures import *  # noqa: F403
from tests.helpers import make_user, recorded, seed, usage_settled
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

AZURE_GROUPS = """
  azureOpenAI:
    groups:
      - group: west
        apiKey: other-key
        instanceName: west
        version: '2024-10-21'
        models:
          gpt-35-turbo: {deploymentName: gpt35}
      - group: east
        apiKey: test-key
        instanceName: east
        version: '2024-05-01-preview'
        assistants: true
        models:
          gpt-4o: {deploymentName: gpt4o-prod}
          gpt-4o-mini: {deploymentName: mini-prod}
"""


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> httpx2.Response:
        return httpx2.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=20)

    def post(self, body: dict[str, Any]) -> httpx2.Response:
        return httpx2.post(f"{self.url}/api/chat", json=body, headers=self.headers, timeout=20)

    def events(self, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        response = self.post(body)
        assert response.status_code == 200, response.text
        events = []
        for block in response.text.strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((lines["event"], json.loads(lines["data"])))
        return events


@pytest.fixture
def setup(settings, monkeypatch, asgi_server, fake_assistants, fake_azure_assistants):
    """``setup(assistants_yaml="", azure_yaml="", staff=False)`` seeds both endpoints, returns an Api."""
    monkeypatch.setattr("endpoints.providers.azure.INSTANCE_URL", f"{fake_azure_assistants.url}/{{instance}}")
    env = {
        "ASSISTANTS_API_KEY": "test-key",
        "ASSISTANTS_BASE_URL": fake_assistants.base_url,
        "ASSISTANTS_MODELS": "gpt-4o,gpt-4o-mini",
    }
    settings.LIBRECHAT_ENDPOINT_VARS = env
    settings.ENVIRON = dict(env)

    def make(assistants_yaml: str = "", azure_yaml: str = "", *, staff: bool = False) -> Api:
        text = "version: 1.3.14\nendpoints:\n  assistants:\n    pollIntervalMs: 50\n" + assistants_yaml
        text += "  azureAssistants:\n    pollIntervalMs: 50\n" + azure_yaml + AZURE_GROUPS
        seed(text, env=env)
        from rest_framework.authtoken.models import Token

        user = make_user(staff=staff)
        api = Api(asgi_server.url, Token.objects.create(user=user).key)
        api.user_id = str(user.pk)  # type: ignore[attr-defined]
        return api

    return make


def ask(text: str = "Hi", endpoint: str = "assistants", **extra: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "messages": [{"role": "user", "content": text}], **extra}


def text_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for name, data in events if name == "delta")


def requests_to(fake: FakeAssistants, method: str, suffix: str) -> list[Any]:
    return [r for r in fake.requests if r.method == method and r.path.endswith(suffix)]


# --- listing ---


def test_it_lists_every_page_of_assistants_in_openai_list_shape(setup, fake_assistants):
    api = setup()
    for index in range(3):
        fake_assistants.add_assistant(f"asst_{index}")
    response = api.get("/api/assistants", endpoint="assistants", limit=2)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [a["id"] for a in body["data"]] == ["asst_2", "asst_1", "asst_0"]
    assert (body["object"], body["first_id"], body["last_id"], body["has_more"]) == ("list", "asst_2", "asst_0", False)
    pages = requests_to(fake_assistants, "GET", "/v1/assistants")
    assert [r.query.get("after") for r in pages] == [None, "asst_1"]
    assert pages[0].query == {"limit": "2", "order": "desc"}
    assert pages[0].headers["openai-beta"] == "assistants=v2"
    assert pages[0].headers["authorization"] == "Bearer test-key"


@pytest.mark.parametrize(
    ("yaml", "staff", "shown"),
    [
        ("    supportedIds: [asst_a, asst_c]\n", False, ["asst_c", "asst_a"]),
        ("    excludedIds: [asst_a]\n", False, ["asst_c", "asst_b"]),
        ("    privateAssistants: true\n", False, ["asst_b"]),
        ("    supportedIds: [asst_a]\n", True, ["asst_c", "asst_b", "asst_a"]),  # admins see all
    ],
)
def test_it_lists_only_the_assistants_a_user_may_use(setup, fake_assistants, yaml, staff, shown):
    api = setup(yaml, staff=staff)
    fake_assistants.add_assistant("asst_a", author="someone-else")
    fake_assistants.add_assistant("asst_b", author=api.user_id)
    fake_assistants.add_assistant("asst_c")
    body = api.get("/api/assistants", endpoint="assistants").json()
    assert [a["id"] for a in body["data"]] == shown
    assert (body["first_id"], body["last_id"]) == (shown[0], shown[-1])


def test_it_lists_azure_assistants_per_group_with_model_names(setup, fake_azure_assistants):
    api = setup()
    fake_azure_assistants.add_assistant("asst_mini", model="mini-prod")
    fake_azure_assistants.add_assistant("asst_4o", model="gpt4o-prod")
    body = api.get("/api/assistants", endpoint="azureAssistants").json()
    assert [(a["id"], a["model"]) for a in body["data"]] == [("asst_4o", "gpt-4o"), ("asst_mini", "gpt-4o-mini")]
    (listed,) = fake_azure_assistants.requests
    assert listed.path == "/east/openai/assistants"
    assert listed.query["api-version"] == "2024-05-01-preview"
    assert listed.headers["api-key"] == "test-key" and "authorization" not in listed.headers


def test_it_refuses_to_list_for_an_endpoint_that_is_not_assistants(setup):
    api = setup()
    response = api.get("/api/assistants", endpoint="azureOpenAI")
    assert response.status_code == 404 and response.json()["type"] == "endpoint_not_found"


def test_it_shows_the_assistants_endpoints_as_librechat_does(setup):
    api = setup("    capabilities: [code_interpreter, tools]\n    version: 2\n")
    config = api.get("/api/endpoints").json()
    assert config["assistants"]["capabilities"] == ["code_interpreter", "tools"]
    assert config["assistants"]["version"] == "2"
    assert "gpt-4o" in config["assistants"]["retrievalModels"]
    assert config["azureAssistants"]["version"] == "1"
    # an azureAssistants section is there (pollIntervalMs): LibreChat sends its schema's default capabilities
    assert config["azureAssistants"]["capabilities"] == [
        "code_interpreter",
        "image_vision",
        "retrieval",
        "actions",
        "tools",
    ]
    assert config["azureAssistants"]["models"] == ["gpt-4o", "gpt-4o-mini"]


# --- runs ---


def test_it_streams_a_run_then_continues_the_same_thread(setup, fake_assistants):
    api = setup()
    fake_assistants.add_assistant("asst_1")
    events = api.events(ask("Hi", assistant_id="asst_1"))
    names = [name for name, _ in events]
    assert names[0] == "created" and names[-1] == "final" and set(names[1:-1]) == {"delta"}
    final = events[-1][1]
    assert final["text"] == text_of(events) == "Hello, world!"
    assert events[0][1]["thread_id"] == final["thread_id"] and events[0][1]["run_id"] == final["run_id"]
    assert (final["finish_reason"], final["endpoint"], final["model"]) == ("stop", "assistants", "gpt-4o")
    assert final["usage"]["prompt_tokens"] == 12 and final["usage"]["completion_tokens"] == 7
    run = requests_to(fake_assistants, "POST", "/runs")[0]
    assert run.json["assistant_id"] == "asst_1" and run.json["stream"] is True and "model" not in run.json
    thread_id = final["thread_id"]
    assert fake_assistants.threads[thread_id]["metadata"]["user"] == api.user_id

    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, world!"}]
    body = {**ask("And now?", assistant_id="asst_1", thread_id=thread_id, model="gpt-4o-mini")}
    body["messages"] = [*history, *body["messages"]]
    again = api.events(body)[-1][1]
    assert again["thread_id"] == thread_id and again["run_id"] != final["run_id"]
    assert fake_assistants.thread_texts(thread_id) == [
        ("user", "Hi"),
        ("assistant", "Hello, world!"),
        ("user", "And now?"),
        ("assistant", "Hello, world!"),
    ]
    assert requests_to(fake_assistants, "POST", "/runs")[-1].json["model"] == "gpt-4o-mini"
    usage_settled(2)
    records = UsageRecord.objects.order_by("created_at", "id")
    assert [(r.status, r.answered_model, r.prompt_tokens, r.completion_tokens) for r in records] == [
        ("ok", "gpt-4o", 12, 7),
        ("ok", "gpt-4o-mini", 12, 7),
    ]


def test_it_completes_a_tool_call_round_trip(setup, fake_assistants):
    api = setup()
    fake_assistants.add_assistant("asst_1")
    call = ToolCall("get_weather", {"city": "Paris"}, id="call_w")
    fake_assistants.plan = RunPlan(tool_calls=[call], then=RunPlan(text=["Sunny", " today."]))
    events = api.events(ask("Weather?", assistant_id="asst_1"))
    assert [name for name, _ in events][-1] == "requires_action"
    action = events[-1][1]
    assert action["tool_calls"] == [
        {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    ]
    body = {
        "endpoint": "assistants",
        "thread_id": action["thread_id"],
        "run_id": action["run_id"],
        "tool_outputs": [{"tool_call_id": "call_w", "output": "22C, sunny"}],
    }
    events = api.events(body)
    final = events[-1][1]
    assert events[-1][0] == "final" and final["text"] == "Sunny today."
    assert (final["thread_id"], final["run_id"]) == (action["thread_id"], action["run_id"])
    submitted = requests_to(fake_assistants, "POST", "/submit_tool_outputs")[0].json
    assert submitted == {"tool_outputs": [{"tool_call_id": "call_w", "output": "22C, sunny"}], "stream": True}
    # The run's usage (function step 10/5 + message 12/7) is recorded once across both requests.
    usage_settled(2)
    usage = [(r.prompt_tokens, r.completion_tokens) for r in UsageRecord.objects.order_by("created_at", "id")]
    assert usage == [(0, 0), (22, 12)]
    assert fake_assistants.runs[action["run_id"]]["usage"]["total_tokens"] == 34


def test_it_shows_code_interpreter_and_file_search_steps(setup, fake_assistants):
    api = setup()
    fake_assistants.add_assistant("asst_1")
    fake_assistants.plan = RunPlan(code="print(2+2)", file_search=True, text=["It is 4."])
    events = api.events(ask("2+2?", assistant_id="asst_1"))
    steps = [data for name, data in events if name == "step"]
    assert [(s["type"], s["status"], s["text"]) for s in steps] == [
        ("code_interpreter", "in_progress", "running code…"),
        ("code_interpreter", "completed", "ran code"),
        ("file_search", "in_progress", "searching files…"),
        ("file_search", "completed", "searched files"),
    ]
    assert (steps[1]["input"], steps[1]["output"]) == ("print(2+2)", "4")
    assert [name for name, _ in events].index("step") < [name for name, _ in events].index("delta")
    final = events[-1][1]
    assert final["text"] == "It is 4."
    assert (final["usage"]["prompt_tokens"], final["usage"]["completion_tokens"]) == (32, 17)


def test_it_polls_when_the_upstream_does_not_stream(setup, fake_assistants):
    api = setup()
    fake_assistants.add_assistant("asst_1")
    fake_assistants.streaming = False
    fake_assistants.plan = RunPlan(code="1+1")
    events = api.events(ask(assistant_id="asst_1"))
    assert events[-1][0] == "final" and events[-1][1]["text"] == "Hello, world!"
    assert [d["status"] for n, d in events if n == "step"] == ["completed"]
    assert requests_to(fake_assistants, "GET", "/runs")[0].query == {"limit": "1", "order": "desc"}
    assert recorded().prompt_tokens == 22


@pytest.mark.parametrize(
    ("plan", "kind"),
    [
        (RunPlan(outcome="failed"), "upstream_error"),
        (RunPlan(outcome="failed", error_code="rate_limit_exceeded"), "upstream_rate_limited"),
        (RunPlan(outcome="expired"), "upstream_timeout"),
    ],
)
@pytest.mark.parametrize("endpoint", ["assistants", "azureAssistants"])
def test_it_ends_a_failed_or_expired_run_with_an_error_event(
    setup, fake_assistants, fake_azure_assistants, plan, kind, endpoint
):
    api = setup()
    fake = fake_assistants if endpoint == "assistants" else fake_azure_assistants
    fake.add_assistant("asst_1")
    fake.plan = plan
    events = api.events(ask(endpoint=endpoint, assistant_id="asst_1"))
    assert [name for name, _ in events] == ["created", "error"]
    error = events[-1][1]
    assert error["type"] == kind and error["endpoint"] == endpoint
    assert "Sorry, something went wrong" not in error["message"]
    record = recorded()
    assert (record.status, record.error_type) == ("error", kind)


@pytest.mark.parametrize("endpoint", ["assistants", "azureAssistants"])
def test_it_cancels_a_run_that_exceeds_the_timeout(setup, fake_assistants, fake_azure_assistants, endpoint):
    api = setup("    timeoutMs: 300\n", "    timeoutMs: 300\n")
    fake = fake_assistants if endpoint == "assistants" else fake_azure_assistants
    fake.add_assistant("asst_1")
    fake.plan = RunPlan(slow=True)
    events = api.events(ask(endpoint=endpoint, assistant_id="asst_1"))
    assert events[-1][0] == "error" and events[-1][1]["type"] == "upstream_timeout"
    assert fake.cancelled == [events[0][1]["run_id"]]
    assert fake.runs[events[0][1]["run_id"]]["status"] == "cancelled"


# --- Azure Assistants ---


def test_it_runs_azure_assistants_with_its_urls_header_and_polling(setup, fake_azure_assistants):
    api = setup()
    fake_azure_assistants.add_assistant("asst_1", model="gpt4o-prod")
    events = api.events(ask(endpoint="azureAssistants", assistant_id="asst_1", model="gpt-4o"))
    final = events[-1][1]
    assert (final["text"], final["model"], final["endpoint"]) == ("Hello, world!", "gpt-4o", "azureAssistants")
    thread_id, run_id = final["thread_id"], final["run_id"]
    run = requests_to(fake_azure_assistants, "POST", "/runs")[0]
    assert run.path == f"/east/openai/threads/{thread_id}/runs"
    assert run.json == {"assistant_id": "asst_1", "stream": False, "model": "gpt4o-prod"}
    assert all(r.query["api-version"] == "2024-05-01-preview" for r in fake_azure_assistants.requests)
    assert all(r.headers["api-key"] == "test-key" for r in fake_azure_assistants.requests)
    assert fake_azure_assistants.requests[0].headers["openai-beta"] == "assistants=v1"
    assert requests_to(fake_azure_assistants, "GET", f"/runs/{run_id}")  # polled

    again = api.events(ask("More", endpoint="azureAssistants", assistant_id="asst_1", thread_id=thread_id))
    assert again[-1][1]["thread_id"] == thread_id
    assert [role for role, _ in fake_azure_assistants.thread_texts(thread_id)] == ["user", "assistant"] * 2
    usage_settled(2)
    records = UsageRecord.objects.order_by("created_at", "id")
    assert [(r.endpoint, r.answered_model, r.prompt_tokens, r.completion_tokens) for r in records] == [
        ("azureAssistants", "gpt-4o", 12, 7),
        ("azureAssistants", "gpt-4o", 12, 7),  # no model asked: the assistant's deployment, named
    ]


def test_it_completes_an_azure_tool_call_round_trip_by_polling(setup, fake_azure_assistants):
    api = setup()
    fake_azure_assistants.add_assistant("asst_1", model="gpt4o-prod")
    fake_azure_assistants.plan = RunPlan(text=["Before. "], tool_calls=[ToolCall("lookup", {"q": "x"}, id="call_1")])
    events = api.events(ask(endpoint="azureAssistants", assistant_id="asst_1"))
    assert events[-1][0] == "requires_action" and events[-1][1]["tool_calls"][0]["id"] == "call_1"
    action = events[-1][1]
    body = {
        "endpoint": "azureAssistants",
        "thread_id": action["thread_id"],
        "run_id": action["run_id"],
        "tool_outputs": [{"tool_call_id": "call_1", "output": {"found": True}}],
    }
    final = api.events(body)[-1][1]
    assert final["text"] == "The weather is fine."
    submitted = requests_to(fake_azure_assistants, "POST", "/submit_tool_outputs")[0]
    assert submitted.json["tool_outputs"] == [{"tool_call_id": "call_1", "output": '{"found": true}'}]
    assert submitted.json["stream"] is False
    usage_settled(2)
    usage = [(r.prompt_tokens, r.completion_tokens) for r in UsageRecord.objects.order_by("created_at", "id")]
    assert usage == [(0, 0), (22, 12)]


# --- refusals before the run ---


@pytest.mark.parametrize(
    ("yaml", "body", "field"),
    [
        ("", ask(), "assistant_id"),
        ("    supportedIds: [asst_other]\n", ask(assistant_id="asst_1"), "assistant_id"),
        ("    excludedIds: [asst_1]\n", ask(assistant_id="asst_1"), "assistant_id"),
        ("    privateAssistants: true\n", ask(assistant_id="asst_1"), "assistant_id"),
        (
            "",
            ask(
                assistant_id="asst_1",
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
                    }
                ],
            ),
            None,
        ),
    ],
)
def test_it_refuses_a_run_it_cannot_start(setup, fake_assistants, yaml, body, field):
    api = setup(yaml)
    fake_assistants.add_assistant("asst_1", author="someone-else")
    response = api.post(body)
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "invalid_request"
    if field:
        assert field in response.json()["errors"]
    assert not requests_to(fake_assistants, "POST", "/runs")


def test_it_lets_the_author_use_a_private_assistant(setup, fake_assistants):
    api = setup("    privateAssistants: true\n")
    fake_assistants.add_assistant("asst_1", author=api.user_id)
    assert api.events(ask(assistant_id="asst_1"))[-1][0] == "final"


def test_it_answers_an_unknown_assistant_before_streaming(setup, fake_assistants):
    api = setup()
    response = api.post(ask(assistant_id="asst_missing"))
    assert response.status_code == 400 and response.json()["type"] == "invalid_request"
    assert recorded().status == "error"


def test_it_cancels_the_run_when_the_client_goes_away(setup, fake_assistants):
    api = setup()
    fake_assistants.add_assistant("asst_1")
    fake_assistants.plan = RunPlan(slow=True)
    with httpx2.stream(
        "POST", f"{api.url}/api/chat", json=ask(assistant_id="asst_1"), headers=api.headers, timeout=20
    ) as response:
        first = next(response.iter_lines())
        assert first == "event: created"
    assert fake_assistants.wait_for(lambda: bool(fake_assistants.cancelled), timeout=5)
    run_id = fake_assistants.cancelled[0]
    assert fake_assistants.runs[run_id]["status"] == "cancelled"
    aborted = lambda: UsageRecord.objects.filter(status="client_aborted").exists()  # noqa: E731
    assert fake_assistants.wait_for(aborted, timeout=5)


def test_it_answers_json_when_not_streaming(setup, fake_assistants):
    api = setup()
    fake_assistants.add_assistant("asst_1")
    response = api.post(ask(assistant_id="asst_1", stream=False))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    final = response.json()
    assert final["text"] == "Hello, world!" and final["thread_id"] in fake_assistants.threads
    assert final["run_id"] in fake_assistants.runs


def test_it_refuses_to_continue_another_users_thread(setup, fake_assistants, asgi_server):
    from rest_framework.authtoken.models import Token

    api = setup()
    fake_assistants.add_assistant("asst_1")
    thread_id = api.events(ask("Hi", assistant_id="asst_1"))[-1][1]["thread_id"]
    mallory = Api(asgi_server.url, Token.objects.create(user=make_user("mallory")).key)
    runs_before = len(requests_to(fake_assistants, "POST", "/runs"))
    response = mallory.post(ask("Tell me their secrets", assistant_id="asst_1", thread_id=thread_id))
    assert response.status_code == 400
    assert response.json()["errors"] == {"thread_id": ["Start a new thread, or continue one of yours."]}
    assert len(requests_to(fake_assistants, "POST", "/runs")) == runs_before
    # The owner still continues it.
    assert api.events(ask("And now?", assistant_id="asst_1", thread_id=thread_id))[-1][0] == "final"
