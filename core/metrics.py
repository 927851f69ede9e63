"""Prometheus metrics (prometheus-client).

With several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory shared by the workers: every worker writes there and ``/metrics``
aggregates them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from core.outcome import Outcome

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter("chat_requests", "Chat requests finished", ["via", "endpoint", "status"])
ERRORS = Counter("chat_errors", "Chat requests that ended with an error, by type", ["type"])
LATENCY = Histogram("chat_latency_seconds", "Whole request, first byte in to last byte out", ["via"],
                    buckets=LATENCY_BUCKETS)  # fmt: skip
UPSTREAM_FIRST_TOKEN = Histogram("upstream_first_token_seconds", "Upstream time to first event", ["endpoint"],
                                 buckets=LATENCY_BUCKETS)  # fmt: skip
TOKENS = Counter("chat_tokens", "Tokens used", ["endpoint", "model", "kind"])
COST = Counter("chat_cost_usd", "Cost in USD (priced requests only)", ["endpoint"])
OPEN_STREAMS = Gauge("chat_open_streams", "Chats being answered now", multiprocess_mode="livesum")


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


#: The label of a name that is not configured (an unknown endpoint asked for, a model not listed):
#: labels come from the configuration only, so a client cannot add series.
OTHER = "other"


def observe(via: str, endpoint: str, model: str, outcome: Outcome, began: float, first_at: float | None) -> None:
    """Count one finished chat (called once per request, off the response path).

    ``endpoint`` (asked for) and ``model`` (answered) are configured names or :data:`OTHER`.
    """
    answered = outcome.answered_endpoint or endpoint
    REQUESTS.labels(via, endpoint, outcome.status).inc()
    if outcome.error_type:
        ERRORS.labels(outcome.error_type).inc()
    if outcome.latency_ms is not None:
        LATENCY.labels(via).observe(outcome.latency_ms / 1000)
    if first_at is not None:
        UPSTREAM_FIRST_TOKEN.labels(answered).observe(max(0.0, first_at - began))
    if outcome.prompt_tokens:
        TOKENS.labels(answered, model, "prompt").inc(outcome.prompt_tokens)
    if outcome.completion_tokens:
        TOKENS.labels(answered, model, "completion").inc(outcome.completion_tokens)
    if outcome.cost_usd is not None:
        COST.labels(answered).inc(float(outcome.cost_usd))
