"""LibreChat's endpoint variables -> specs, merged with librechat.yaml.

``OPENAI_API_KEY`` & co. enable the built-in endpoints; the key itself is
stored as the reference ``${OPENAI_API_KEY}`` (or ``user_provided``), never as
its value.  ``*_MODELS`` lists are split on commas and trimmed; without them
LibreChat's default lists apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from endpoints.config.defaults import catalog_context_window, default_models, is_vision_model
from endpoints.config.interpolate import secrets_for_any_url
from endpoints.config.specs import ConfigSpec, EndpointSpec, ModelSpec
from endpoints.config.yamlfile import ConfigError, Problem
from endpoints.models import USER_PROVIDED, EndpointKind, Source


@dataclass(frozen=True)
class BuiltinVars:
    name: str
    key_var: str
    models_var: str
    url_var: str | None


BUILTINS = (
    BuiltinVars(EndpointKind.OPENAI, "OPENAI_API_KEY", "OPENAI_MODELS", "OPENAI_REVERSE_PROXY"),
    BuiltinVars(EndpointKind.ANTHROPIC, "ANTHROPIC_API_KEY", "ANTHROPIC_MODELS", "ANTHROPIC_REVERSE_PROXY"),
    BuiltinVars(EndpointKind.GOOGLE, "GOOGLE_KEY", "GOOGLE_MODELS", "GOOGLE_REVERSE_PROXY"),
    BuiltinVars(EndpointKind.ASSISTANTS, "ASSISTANTS_API_KEY", "ASSISTANTS_MODELS", "ASSISTANTS_BASE_URL"),
)


def split_models(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _reference(var: str, value: str | None) -> str:
    if value is None or value == "":
        return ""
    return USER_PROVIDED if value.strip() == USER_PROVIDED else f"${{{var}}}"


def builtin_specs(env: dict[str, str | None]) -> list[EndpointSpec]:
    """Built-in endpoints enabled by the environment (a key variable is set)."""
    specs = []
    defaults = default_models()
    for b in BUILTINS:
        api_key = _reference(b.key_var, env.get(b.key_var))
        if not api_key:
            continue
        spec = EndpointSpec(name=b.name, kind=b.name, source=Source.ENV, api_key=api_key)
        if b.url_var and env.get(b.url_var):
            spec.base_url = _reference(b.url_var, env.get(b.url_var))
        if b.name == EndpointKind.OPENAI and env.get("OPENAI_ORGANIZATION"):
            spec.organization = "${OPENAI_ORGANIZATION}"
        listed = split_models(env.get(b.models_var))
        if listed:
            spec.models = [ModelSpec(model_id=m, source=Source.ENV) for m in listed]
        else:
            spec.models = [ModelSpec(model_id=m, source=Source.DEFAULT) for m in defaults.get(b.name, [])]
            # Without a model list LibreChat asks OpenAI and Anthropic which models the key can use.
            spec.models_fetch = b.name in (EndpointKind.OPENAI, EndpointKind.ANTHROPIC) and api_key != USER_PROVIDED
        specs.append(spec)
    return specs


def merge(yaml_spec: ConfigSpec, env: dict[str, str | None]) -> ConfigSpec:
    """Overlay the yaml's settings for built-in endpoints on what the environment enables."""
    merged: dict[str, EndpointSpec] = {spec.name: spec for spec in builtin_specs(env)}
    for spec in yaml_spec.endpoints:
        base = merged.get(spec.name)
        if base is None or spec.kind == EndpointKind.CUSTOM:
            if spec.kind == EndpointKind.AZURE_ASSISTANTS and spec.name in merged:
                continue
            if spec.kind in (EndpointKind.OPENAI, EndpointKind.ANTHROPIC, EndpointKind.GOOGLE):
                # Configured in yaml but its key variable is unset: LibreChat does not offer it.
                spec.api_key = ""
                spec.models = _with_defaults(spec.name, spec.models)
            if spec.kind == EndpointKind.ASSISTANTS:
                spec.models = _with_defaults(spec.name, spec.models)
            merged[spec.name] = spec
            continue
        # yaml settings on top of an env-enabled built-in endpoint
        for field in (
            "headers",
            "add_params",
            "drop_params",
            "rate_limit",
            "fallbacks",
            "routing",
            "extra",
            "capabilities",
            "version",
            "retrieval_models",
            "disable_builder",
            "supported_ids",
            "excluded_ids",
            "private_assistants",
            "poll_interval_ms",
            "timeout_ms",
        ):
            value = getattr(spec, field)
            # capabilities: [] is a choice (no capabilities), not an absence
            if value not in (None, "", [], {}, False) or (field == "capabilities" and value is not None):
                setattr(base, field, value)
        if spec.base_url and not base.base_url:
            base.base_url = spec.base_url
        base.models = _overlay_models(base.models, spec.models)
        base.source = Source.YAML if base.source == Source.ENV and spec.models else base.source
    result = ConfigSpec(
        version=yaml_spec.version,
        endpoints=list(merged.values()),
        balance=yaml_spec.balance,
        warnings=yaml_spec.warnings,
    )
    for spec in result.endpoints:
        for model in spec.models:
            fill_model_defaults(spec.kind, model)
    check_fallbacks(result)
    check_deployments(result)
    check_user_urls(result)
    return result


def check_user_urls(config: ConfigSpec) -> None:
    """No built-in endpoint sends the server's key where each user sets the URL (``*_REVERSE_PROXY`` or
    ``baseURL: user_provided`` beside a key of the server's); custom endpoints are checked as read."""
    problems = []
    for spec in config.endpoints:
        leak = None if spec.kind == EndpointKind.CUSTOM else secrets_for_any_url(spec.api_key, spec.base_url,
                                                                                  spec.headers)  # fmt: skip
        if leak:
            where = f"{_path(spec)}.baseURL" if spec.source != Source.ENV else "the environment"
            problems.append(Problem(where, f"{spec.name}: {leak}"))
    if problems:
        raise ConfigError(problems)


def _with_defaults(name: str, yaml_models: list[ModelSpec]) -> list[ModelSpec]:
    base = [ModelSpec(model_id=m, source=Source.DEFAULT) for m in default_models().get(name, [])]
    return _overlay_models(base, yaml_models)


def _overlay_models(base: list[ModelSpec], overlay: list[ModelSpec]) -> list[ModelSpec]:
    by_id = {m.model_id: m for m in base}
    result = list(base)
    for model in overlay:
        if model.model_id in by_id:
            index = result.index(by_id[model.model_id])
            model.source = Source.YAML
            result[index] = model
        else:
            result.append(model)
    return result


def fill_model_defaults(kind: str, model: ModelSpec) -> None:
    """Catalog context window, LibreChat's vision patterns; yaml overrides win."""
    if model.context_window is None:
        model.context_window = catalog_context_window(model.model_id, kind)
    if model.vision is None:
        model.vision = is_vision_model(model.model_id)
    if model.tools is None:
        model.tools = True
    if model.streaming is None:
        model.streaming = True


def check_fallbacks(config: ConfigSpec) -> None:
    """Every fallback names a configured endpoint (and model, where the list is fixed); no cycles."""
    problems: list[Problem] = []
    endpoints = {spec.name: spec for spec in config.endpoints}
    graph: dict[str, list[str]] = {}
    checked: set[int] = set()
    for spec in config.endpoints:
        for model in spec.models:
            owner: ModelSpec | EndpointSpec = model if model.fallbacks else spec
            node = f"{spec.name}/{model.model_id}"
            graph[node] = owner.fallbacks
            entries = owner.fallback_where or [(_path(spec) + ".fallbacks", None)] * len(owner.fallbacks)
            if node in owner.fallbacks:
                path, line = entries[owner.fallbacks.index(node)]
                problems.append(Problem(path, f"{node} falls back to itself", line))
            if id(owner) in checked:
                continue
            checked.add(id(owner))
            for target, (path, line) in zip(owner.fallbacks, entries, strict=False):
                endpoint, _, model_id = target.partition("/")
                other = endpoints.get(endpoint)
                if other is None:
                    problems.append(Problem(path, f"fallback {target!r} names an unknown endpoint", line))
                elif not other.models_fetch and model_id not in {m.model_id for m in other.models}:
                    problems.append(Problem(path, f"fallback {target!r}: {endpoint} does not offer {model_id!r}", line))
    cycle = None if any("falls back to itself" in p.message for p in problems) else _find_cycle(graph)
    if cycle:
        problems.append(Problem("endpoints", "fallbacks form a cycle: " + " -> ".join(cycle)))
    if problems:
        raise ConfigError(problems)


def check_deployments(config: ConfigSpec) -> None:
    """A deployment's ``target`` names a configured model (not its own, not one each user keys);
    its ``group`` is one of the endpoint's; the model's endpoint is not keyed by each user (their
    keys are theirs: one user's failures must not steer everyone's requests)."""
    problems: list[Problem] = []
    endpoints = {spec.name: spec for spec in config.endpoints}
    for spec in config.endpoints:
        groups = {g.group for g in spec.groups}
        for model in spec.models:
            if not model.deployments:
                continue
            here = f"{model.where or _path(spec) + '.models'}.deployments"
            if spec.kind in (EndpointKind.ASSISTANTS, EndpointKind.AZURE_ASSISTANTS):
                problems.append(Problem(here, "an assistants run stays on the account its thread lives in: "
                                        "assistants models take no deployments"))  # fmt: skip
            elif USER_PROVIDED in (spec.api_key, spec.base_url):
                problems.append(Problem(here, f"{spec.name} is keyed by each user (user_provided): deployments "
                                        "need the server's keys"))  # fmt: skip
            for index, entry in enumerate(model.deployments):
                problems += _deployment_problems(entry, f"{here}[{index}]", spec, model, endpoints, groups)
    if problems:
        raise ConfigError(problems)


def _deployment_problems(entry: dict[str, object], path: str, spec: EndpointSpec, model: ModelSpec,
                         endpoints: dict[str, EndpointSpec], groups: set[str]) -> list[Problem]:  # fmt: skip
    target, group = str(entry.get("target") or ""), str(entry.get("group") or "")
    if group and group not in groups:
        return [Problem(f"{path}.group", f"{spec.name} has no group {group!r}")]
    if not target:
        return []
    endpoint, _, model_id = target.partition("/")
    other = endpoints.get(endpoint)
    if target == f"{spec.name}/{model.model_id}":
        return [Problem(f"{path}.target", "a deployment cannot target its own model; write {name: …} without target")]
    if other is None:
        return [Problem(f"{path}.target", f"{target!r} names an unknown endpoint")]
    if USER_PROVIDED in (other.api_key, other.base_url):
        return [Problem(f"{path}.target", f"{endpoint} is keyed by each user (user_provided): not a deployment")]
    if not other.models_fetch and model_id not in {m.model_id for m in other.models}:
        return [Problem(f"{path}.target", f"{endpoint} does not offer {model_id!r}")]
    return []


def _path(spec: EndpointSpec) -> str:
    if spec.kind == EndpointKind.CUSTOM:
        return f"endpoints.custom[{spec.position}]"
    return f"endpoints.{spec.name}"


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
