"""Our routing extension keys: ``deployments`` in a model item and ``routing`` in an endpoint
item or a model item (LibreChat drops unknown keys in both, so a file with them still loads there).

``deployments`` lists equivalent targets serving one model; each entry is one of:

* ``{name: main}``: the model itself, as its endpoint configures it;
* ``{name: eu, target: 'endpoint/model'}``: another endpoint's model, with that endpoint's settings;
* ``{name: second-key, apiKey: '${OPENAI_KEY_2}', baseURL: …}``: this endpoint with another key (a
  ``${VAR}`` reference: a key never sits in the deployment list) and, optionally, another base URL;
* ``{name: east, group: eastus, deploymentName: gpt-4o-east}``: on ``azureOpenAI``, another group's
  deployment.

Each may set ``weight`` (a whole number, default 1) and ``rateLimit`` (as a model's).  ``routing``
sets the strategy and the cooldowns, for a model or for every model of an endpoint (a model's
keys win, key by key); :data:`DEFAULTS` fills the rest.  The same readers check what admin saves.
"""

from __future__ import annotations

from typing import Any

from endpoints.config.reader import Reader
from endpoints.config.values import check_url, read_rate_limit
from endpoints.config.yamlfile import Located, Problem, join

STRATEGIES = ("weighted-random", "least-busy", "lowest-latency")
HEALTH_METHODS = ("chat", "models")
#: The routing of a model that sets none (README "Routing": documented there, keep in step).
DEFAULTS: dict[str, Any] = {
    "strategy": "weighted-random",
    "cooldowns": True,
    "allowedFails": 3,  # failures allowed in a window; one more cools the deployment down
    "windowSeconds": 60,
    "cooldownSeconds": 30,
    "authCooldownSeconds": 300,  # after a 401/403: retrying cannot help, an administrator must act
    "healthCheck": None,  # {intervalSeconds: 60, method: chat}: off unless set
}
ROUTING_KEYS = frozenset(DEFAULTS)
HEALTH_KEYS = frozenset({"intervalSeconds", "method"})
DEPLOYMENT_KEYS = frozenset({"name", "weight", "target", "apiKey", "baseURL", "group", "deploymentName", "rateLimit"})
MAX_DEPLOYMENT_NAME = 100
MIN_HEALTH_INTERVAL = 5


def read_routing(r: Reader, item: dict[str, Any], path: str) -> dict[str, Any] | None:
    """``routing:`` as written (checked), or None when absent."""
    data = r.mapping(item, "routing", path, nullable=True)
    if data is None:
        return None
    here = join(path, "routing")
    r.only_keys(data, set(ROUTING_KEYS), here)
    strategy = data.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        r.error(join(here, "strategy"), f"expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if "cooldowns" in data:
        r.boolean(data, "cooldowns", here)
    r.integer(data, "allowedFails", here, minimum=0, nullable=True)
    for key in ("windowSeconds", "cooldownSeconds", "authCooldownSeconds"):
        r.integer(data, key, here, minimum=1, nullable=True)
    check = data.get("healthCheck")
    if check is not None and check is not False:
        where = join(here, "healthCheck")
        if check is True:
            check = data["healthCheck"] = {}
        if not isinstance(check, dict):
            r.error(where, "expected a mapping such as {intervalSeconds: 60, method: chat}, or false")
        else:
            r.only_keys(check, set(HEALTH_KEYS), where)
            r.integer(check, "intervalSeconds", where, minimum=MIN_HEALTH_INTERVAL, nullable=True)
            method = check.get("method")
            if method is not None and method not in HEALTH_METHODS:
                r.error(join(where, "method"), f"expected chat (one tiny request) or models (a models list call), "
                        f"got {method!r}")  # fmt: skip
    return dict(data)


def read_deployments(r: Reader, item: dict[str, Any], path: str, *, azure: bool) -> list[dict[str, Any]]:
    """``deployments:`` as written (checked); empty when absent."""
    values = item.get("deployments")
    here = join(path, "deployments")
    if values is None:
        if "deployments" in item:
            r.error(here, "has no value; list the deployments or remove the key")
        return []
    if not isinstance(values, list) or not values:
        r.error(here, "expected a list of deployments, each {name: …} with a target, apiKey or group")
        return []
    seen: dict[str, str] = {}
    result = []
    for index, entry in enumerate(values):
        where = join(here, index)
        if not isinstance(entry, dict):
            r.error(where, "expected a mapping such as {name: eu, target: 'endpoint/model', weight: 2}")
            continue
        _deployment(r, entry, where, azure=azure)
        name = entry.get("name")
        if isinstance(name, str) and name in seen:
            r.error(join(where, "name"), f"{name!r} is also the name of {seen[name]}; each deployment needs its own")
        elif isinstance(name, str):
            seen[name] = where
        result.append(dict(entry))
    return result


def _deployment(r: Reader, entry: dict[str, Any], path: str, *, azure: bool) -> None:
    r.only_keys(entry, set(DEPLOYMENT_KEYS), path)
    name = r.string(entry, "name", path, required=True)
    if len(name) > MAX_DEPLOYMENT_NAME or "/" in name:
        r.error(join(path, "name"), f"a deployment name has at most {MAX_DEPLOYMENT_NAME} characters and no '/'")
    r.integer(entry, "weight", path, minimum=1, nullable=True)
    read_rate_limit(r, entry, path)
    kinds = [key for key in ("target", "apiKey", "group") if key in entry]
    if len(kinds) > 1:
        r.error(path, f"give one of target, apiKey or group, not {' and '.join(kinds)}")
        return
    target = r.string(entry, "target", path, nullable=True)
    if target and not all(target.partition("/")[::2]):
        r.error(join(path, "target"), f"expected 'endpoint/model', got {target!r}")
    if target and ("baseURL" in entry or "deploymentName" in entry):
        r.error(path, "a target deployment uses its endpoint's settings: remove baseURL and deploymentName")
    api_key = r.string(entry, "apiKey", path, nullable=True)
    if api_key and not (api_key.startswith("${") and api_key.endswith("}")):
        r.error(join(path, "apiKey"), "write a ${VARIABLE} reference and set the key in the environment: "
                "a deployment never stores a key (nor takes user_provided)")  # fmt: skip
    base_url = r.string(entry, "baseURL", path, nullable=True)
    check_url(r, base_url, join(path, "baseURL"))
    r.references(base_url, join(path, "baseURL"))
    r.references(api_key, join(path, "apiKey"))
    group = r.string(entry, "group", path, nullable=True)
    r.string(entry, "deploymentName", path, nullable=True)
    if azure and (api_key or base_url):
        r.error(path, "on azureOpenAI a deployment names a group (and deploymentName), not an apiKey or baseURL")
    if not azure and (group or "deploymentName" in entry):
        r.error(path, "group and deploymentName are for azureOpenAI deployments")


def problems_of(value: Any, key: str, *, azure: bool = False) -> list[Problem]:
    """What admin's JSON for ``deployments`` or ``routing`` gets wrong, named by path (``deployments[1].name``)."""
    r = Reader(Located())
    if key == "deployments":
        read_deployments(r, {"deployments": value}, "", azure=azure)
    else:
        read_routing(r, {"routing": value}, "")
    return r.problems
