"""Pieces every endpoint section shares: model lists and model items, base URLs, and our
extension keys (``rateLimit``, ``fallbacks``, ``routing``, the extra keys of a model item, ``deployments``
among them: routing.py).

LibreChat ignores the extension keys (it drops unknown keys inside an endpoint item and a
model item), so they never make a file LibreChat refuses; we check them, because we act on
them.  A model listed twice is offered once, with a warning, as LibreChat accepts it.
"""

from __future__ import annotations

from typing import Any

from endpoints.config.reader import Reader
from endpoints.config.routing import read_deployments, read_routing
from endpoints.config.specs import ModelSpec
from endpoints.config.values import check_url, read_rate_limit
from endpoints.config.yamlfile import join
from endpoints.models import Source

#: Column sizes of Endpoint.name and EndpointModel.model_id.
MAX_ENDPOINT_NAME = 100
MAX_MODEL_ID = 255
#: Keys of a model item: LibreChat's (name, description) and ours.
MODEL_ITEM_KEYS = frozenset(
    {
        "name",
        "description",
        "label",
        "contextWindow",
        "maxOutputTokens",
        "vision",
        "tools",
        "streaming",
        "fallbacks",
        "rateLimit",
        "prices",
        "deployments",
        "routing",
    }
)
__all__ = ["EXTENSION_KEYS", "check_url", "read_fallbacks", "read_model_list", "read_rate_limit"]

#: Our keys inside an endpoint item, which LibreChat drops.
EXTENSION_KEYS = frozenset({"rateLimit", "fallbacks", "routing"})


def read_fallbacks(r: Reader, item: dict[str, Any], path: str) -> tuple[list[str], list[tuple[str, int | None]]]:
    """The fallback list and where each entry was written (for later cross-checks)."""
    values = r.string_list(item, "fallbacks", path, nullable=True) or []
    where = []
    for index, value in enumerate(values):
        here = join(join(path, "fallbacks"), index)
        where.append((here, r.where.line(here)))
        endpoint, _, model = value.partition("/")
        if not endpoint or not model:
            r.error(here, f"expected 'endpoint/model', got {value!r}")
    return values, where


def read_model_list(r: Reader, items: Any, path: str, *, required: bool) -> list[ModelSpec]:
    """``models.default`` (or anthropic's ``models``): names or ``{name, …}`` items."""
    if not isinstance(items, list):
        return []  # the schema check has said why
    if required and not items:
        r.error(path, "list at least one model")
    result: list[ModelSpec] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(items):
        here = join(path, index)
        spec = _model_item(r, item, here)
        if spec is None:
            continue
        if spec.model_id in seen:
            r.warn(here, f"model {spec.model_id!r} is already listed at {seen[spec.model_id]}; it is offered once")
            continue
        seen[spec.model_id] = here
        result.append(spec)
    return result


def _model_item(r: Reader, item: Any, path: str) -> ModelSpec | None:
    if isinstance(item, str):
        if not item.strip():
            r.error(path, "a model name must not be empty")
            return None
        if len(item) > MAX_MODEL_ID:
            r.error(path, f"a model name must be at most {MAX_MODEL_ID} characters")
            return None
        return ModelSpec(model_id=item, source=Source.YAML)
    if not isinstance(item, dict):
        raw = r.where.raw.get(path)
        hint = f"; put it in quotes: '{raw}'" if raw is not None else ""
        r.error(path, f"expected a model name or {{name: …}}{hint}")
        return None
    for key in item:
        if key not in MODEL_ITEM_KEYS:
            r.warn(join(path, key), f"unknown key; ignored (known keys: {', '.join(sorted(MODEL_ITEM_KEYS))})")
    name = r.string(item, "name", path, required=True)
    if not name:
        return None
    if len(name) > MAX_MODEL_ID:
        r.error(join(path, "name"), f"a model name must be at most {MAX_MODEL_ID} characters")
        return None
    overrides = {key: value for key, value in item.items() if key in MODEL_ITEM_KEYS}
    spec = ModelSpec(model_id=name, source=Source.YAML, overrides=overrides)
    spec.label = r.string(item, "label", path, nullable=True)
    spec.context_window = r.integer(item, "contextWindow", path, minimum=1, nullable=True)
    spec.max_output_tokens = r.integer(item, "maxOutputTokens", path, minimum=1, nullable=True)
    for key in ("vision", "tools", "streaming"):
        if item.get(key) is not None:
            setattr(spec, key, r.boolean(item, key, path))
    spec.fallbacks, spec.fallback_where = read_fallbacks(r, item, path)
    spec.rate_limit = read_rate_limit(r, item, path)
    spec.deployments = read_deployments(r, item, path, azure=False)
    spec.where = path
    spec.routing = read_routing(r, item, path)
    prices = r.mapping(item, "prices", path, nullable=True)
    if prices is not None:
        here = join(path, "prices")
        r.only_keys(prices, {"prompt", "completion", "cached"}, here)
        spec.prompt_price = r.price(prices, "prompt", here)
        spec.completion_price = r.price(prices, "completion", here)
        spec.cached_price = r.price(prices, "cached", here)
    return spec
