/* The playground: POST /api/chat with the session cookie, read the SSE stream with fetch +
   ReadableStream, append `delta` text as it arrives, then show tokens, cost and who answered.
   Everything the server or the model sends is written with textContent, never as HTML. */
(function () {
  "use strict";

  var form = document.getElementById("playground-form");
  var dataNode = document.getElementById("playground-data");
  if (!form || !dataNode) return;

  var endpoints = JSON.parse(dataNode.textContent);
  var chatUrl = form.dataset.chatUrl;
  var keysUrl = form.dataset.keysUrl;
  var KEY_ERRORS = ["no_user_key", "expired_user_key", "invalid_user_key", "invalid_base_url"];

  var endpointSelect = document.getElementById("pg-endpoint");
  var modelSelect = document.getElementById("pg-model");
  var keyNote = document.getElementById("pg-key-note");
  var keyNoteText = document.getElementById("pg-key-note-text");
  var systemBox = document.getElementById("pg-system");
  var temperatureBox = document.getElementById("pg-temperature");
  var messageBox = document.getElementById("pg-message");
  var sendButton = document.getElementById("pg-send");
  var stopButton = document.getElementById("pg-stop");
  var clearButton = document.getElementById("pg-clear");
  var errorBox = document.getElementById("pg-error");
  var transcript = document.getElementById("pg-transcript");
  var emptyNote = document.getElementById("pg-empty");
  var statusBox = document.getElementById("pg-status");
  var csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");

  var messages = []; // the conversation sent as context: only completed turns
  var controller = null;

  function byName(name) {
    for (var i = 0; i < endpoints.length; i++) if (endpoints[i].name === name) return endpoints[i];
    return null;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- endpoint and model pickers ---------------------------------------------------

  function showModels() {
    var endpoint = byName(endpointSelect.value);
    var models = endpoint ? endpoint.models : [];
    modelSelect.replaceChildren();
    models.forEach(function (model) {
      var option = el("option", "", model);
      option.value = model;
      modelSelect.appendChild(option);
    });
    if (!models.length) {
      var none = el("option", "", "No models listed");
      none.value = "";
      none.disabled = true;
      modelSelect.appendChild(none);
    }
    var state = endpoint ? endpoint.keyState : "admin";
    keyNote.hidden = state !== "not_set" && state !== "expired";
    if (!keyNote.hidden) {
      keyNoteText.textContent = state === "expired"
        ? "Your key for " + endpoint.name + " has expired."
        : endpoint.name + " uses your own API key, which you have not set yet.";
    }
  }

  endpointSelect.addEventListener("change", showModels);

  // --- transcript -------------------------------------------------------------------

  function addTurn(role, heading) {
    emptyNote.hidden = true;
    var item = el("li", "turn turn-" + role);
    item.appendChild(el("h3", "who", heading));
    var text = el("p", "text");
    item.appendChild(text);
    transcript.appendChild(item);
    clearButton.disabled = false;
    return { item: item, text: text };
  }

  function note(turn, className, text) {
    var p = el("p", "note " + className, text);
    turn.item.appendChild(p);
    return p;
  }

  function formatCost(cost) {
    if (cost === null || cost === undefined) return "unknown";
    return "$" + Number(cost).toFixed(6);
  }

  function showUsage(turn, final) {
    var usage = final.usage || {};
    var list = el("dl", "usage");
    var rows = [
      ["Prompt tokens", String(usage.prompt_tokens)],
      ["Completion tokens", String(usage.completion_tokens)],
      ["Total tokens", String(usage.total_tokens)],
      ["Cost (USD)", formatCost(usage.cost_usd) + (usage.estimated ? " (estimated)" : "")],
      ["Answered by", final.endpoint + " / " + final.model],
    ];
    rows.forEach(function (row) {
      var div = el("div", "usage-item");
      div.appendChild(el("dt", "", row[0]));
      div.appendChild(el("dd", "", row[1]));
      list.appendChild(div);
    });
    turn.item.appendChild(list);
  }

  // --- errors -----------------------------------------------------------------------

  function showError(error) {
    errorBox.replaceChildren();
    var type = error.type ? " (" + error.type + ")" : "";
    errorBox.appendChild(el("p", "", "Error" + type + ": " + (error.message || "the request failed.")));
    var details = error.errors;
    if (details && typeof details === "object") {
      var list = el("ul");
      Object.keys(details).forEach(function (field) {
        [].concat(details[field]).forEach(function (message) {
          list.appendChild(el("li", "", field + ": " + message));
        });
      });
      if (list.childNodes.length) errorBox.appendChild(list);
    }
    if (KEY_ERRORS.indexOf(error.type) !== -1) {
      var p = el("p");
      var link = el("a", "", "Set your key on the My keys page");
      link.href = keysUrl;
      p.appendChild(link);
      p.appendChild(document.createTextNode("."));
      errorBox.appendChild(p);
    }
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }

  // --- SSE --------------------------------------------------------------------------

  function parseFrame(block) {
    var event = "message";
    var data = [];
    block.split(/\r?\n/).forEach(function (line) {
      if (line.indexOf("event:") === 0) event = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
    });
    if (!data.length) return null;
    try {
      return { event: event, data: JSON.parse(data.join("\n")) };
    } catch (e) {
      return { event: "error", data: { type: "invalid_stream", message: "The server sent an unreadable event." } };
    }
  }

  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var parts = buffer.split(/\r?\n\r?\n/);
      buffer = parts.pop();
      parts.forEach(function (block) {
        var frame = parseFrame(block);
        if (frame) onEvent(frame.event, frame.data);
      });
    }
    buffer += decoder.decode();
    if (buffer.trim()) {
      var last = parseFrame(buffer);
      if (last) onEvent(last.event, last.data);
    }
  }

  async function errorBody(response) {
    try {
      var body = await response.json();
      if (body && body.message) return body;
    } catch (e) { /* not JSON */ }
    return { type: "http_" + response.status, message: "The server answered " + response.status + " " + response.statusText + "." };
  }

  // --- sending ----------------------------------------------------------------------

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.disabled = !busy;
    clearButton.disabled = busy || !transcript.childNodes.length;
    endpointSelect.disabled = busy;
    modelSelect.disabled = busy;
    transcript.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function buildBody(userMessage) {
    var history = messages.concat([userMessage]);
    var system = systemBox.value.trim();
    if (system) history = [{ role: "system", content: system }].concat(history);
    var body = { endpoint: endpointSelect.value, model: modelSelect.value, messages: history, stream: true };
    if (temperatureBox.value !== "") body.parameters = { temperature: Number(temperatureBox.value) };
    return body;
  }

  async function send() {
    clearError();
    var text = messageBox.value;
    if (!text.trim()) {
      showError({ message: "Write a message first." });
      messageBox.focus();
      return;
    }
    if (!modelSelect.value) {
      showError({ message: "This endpoint lists no models: pick another endpoint." });
      return;
    }
    if (!temperatureBox.validity.valid) {
      showError({ message: "Temperature must be a number from 0 to 2, or empty." });
      temperatureBox.focus();
      return;
    }
    var userMessage = { role: "user", content: text };
    var body = buildBody(userMessage);
    var userTurn = addTurn("user", "You");
    userTurn.text.textContent = text;
    var answer = addTurn("assistant", body.endpoint + " / " + body.model);
    answer.item.classList.add("streaming");
    messageBox.value = "";
    controller = new AbortController();
    setBusy(true);
    statusBox.textContent = "Answering…";

    var answerText = "";
    var final = null;
    var failure = null;
    try {
      var headers = { "Content-Type": "application/json", "Accept": "text/event-stream" };
      if (csrfInput) headers["X-CSRFToken"] = csrfInput.value;
      var response = await fetch(chatUrl, {
        method: "POST",
        headers: headers,
        body: JSON.stringify(body),
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) {
        failure = await errorBody(response);
      } else if ((response.headers.get("content-type") || "").indexOf("text/event-stream") === -1) {
        final = await response.json();
        answerText = final.text || "";
        answer.text.textContent = answerText;
      } else {
        await readEvents(response, function (event, data) {
          if (event === "delta" && typeof data.text === "string") {
            answerText += data.text;
            answer.text.textContent = answerText;
          } else if (event === "fallback") {
            var from = data.from || {};
            var to = data.to || {};
            note(answer, "fallback", "Fallback: " + from.endpoint + " / " + from.model + " failed (" + data.reason +
              "), answered by " + to.endpoint + " / " + to.model + ".");
          } else if (event === "final") {
            final = data;
          } else if (event === "error") {
            failure = data;
          }
        });
        if (!final && !failure) failure = { type: "incomplete", message: "The answer ended before it was complete." };
      }
    } catch (e) {
      if (e && e.name === "AbortError") {
        failure = { stopped: true };
      } else {
        failure = { type: "network_error", message: "Could not reach the server: " + (e && e.message ? e.message : e) };
      }
    } finally {
      controller = null;
      answer.item.classList.remove("streaming");
    }

    if (final && !failure) {
      if (final.text !== undefined && final.text !== answerText) answer.text.textContent = final.text;
      answer.item.querySelector(".who").textContent = final.endpoint + " / " + final.model;
      showUsage(answer, final);
      messages.push(userMessage, { role: "assistant", content: final.text !== undefined ? final.text : answerText });
      statusBox.textContent = "Answer complete: " + final.usage.total_tokens + " tokens, cost " + formatCost(final.usage.cost_usd) + ".";
    } else {
      answer.item.classList.add("failed");
      if (failure.stopped) {
        note(answer, "stopped", "Stopped. This turn is not part of the conversation.");
        statusBox.textContent = "Stopped.";
      } else {
        if (!answerText) answer.text.textContent = "No answer.";
        note(answer, "not-kept", "This turn is not part of the conversation.");
        showError(failure);
        statusBox.textContent = "The request failed.";
      }
      if (!messageBox.value) messageBox.value = text;
    }
    setBusy(false);
    messageBox.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!controller) send();
  });
  messageBox.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (!controller) send();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && controller) controller.abort();
  });
  stopButton.addEventListener("click", function () {
    if (controller) controller.abort();
  });
  clearButton.addEventListener("click", function () {
    messages = [];
    transcript.replaceChildren();
    emptyNote.hidden = false;
    clearError();
    clearButton.disabled = true;
    statusBox.textContent = "Started a new conversation.";
    messageBox.focus();
  });

  showModels();
  setBusy(false);
  clearButton.disabled = true;
})();
