"""The OpenAI Assistants API v2 (assistants, threads, messages, runs), on OpenAI and on Azure.

One chat is one run: create a thread with the user's messages (or add them to ``thread_id``),
create a run with ``stream: true`` and turn its events into normalized ones, including the base
events of stateful APIs: :class:`~endpoints.providers.base.Opened` (first, once the run exists:
its thread and run ids), :class:`~endpoints.providers.base.Step` (code interpreter and file search
progress) and :class:`~endpoints.providers.base.RequiresAction` (function calls the client must
answer; the answer then ends with ``Done("tool_calls")``). A chat with ``run_id`` and
``tool_outputs`` submits them and follows the continued run the same way.

Before a run starts, ``policy.py`` checks what LibreChat checks: an assistant the endpoint
supports, its author when assistants are private, and that a continued thread is the caller's.

Where streaming is off (Azure, and version 1, as LibreChat's chatV2/chatV1 do) or the upstream
answers a streaming request with plain JSON, the run is polled every ``poll_interval`` seconds
(LibreChat's ``waitForRun``). Either way a run still going after ``timeout`` seconds is cancelled
upstream and ends with ``upstream_timeout``; so is a run whose answer the caller stops reading
(LibreChat's ``abortRun``).

Usage: a request reports what the steps completed during it used, so a run split by tool calls
is counted once across its requests; a run done in one request reports the run's own ``usage``.

* ``provider.py``: URLs, headers, HTTP calls and the streamed / polled flows;
* ``runs.py``: what a run needs beyond the request, and the bodies sent to start or continue one;
* ``events.py``: run, step and message objects and stream events -> events;
* ``policy.py``: who may run which assistant, and who owns which thread.

API: https://platform.openai.com/docs/api-reference/assistants ,
https://platform.openai.com/docs/api-reference/runs ,
https://platform.openai.com/docs/api-reference/assistants-streaming/events .
Azure: ``https://{instance}.openai.azure.com/openai/threads/{id}/runs?api-version=…`` with an
``api-key`` header (https://learn.microsoft.com/azure/ai-services/openai/assistants-reference-runs).
"""

from __future__ import annotations

from endpoints.providers.assistants.provider import AssistantsProvider

__all__ = ["AssistantsProvider"]
