"""``endpoints.azureOpenAI``: groups, their models and LibreChat's group rules.

Rules (LibreChat ``validateAzureGroups``, run at start-up): group names unique; model names
unique across groups; a serverless group needs ``baseURL``, any other group ``instanceName``;
every model of a non-serverless group needs a ``deploymentName`` and a ``version``, its own or
the group's.  The models of groups with ``assistants: true`` also serve the
``azureAssistants`` endpoint; ``azureOpenAI.assistants: true`` turns that endpoint on and
needs at least one such group (LibreChat refuses to start otherwise).
"""

from __future__ import annotations

from typing import Any

from endpoints.config import schema
from endpoints.config.items import EXTENSION_KEYS, check_url, read_fallbacks, read_rate_limit
from endpoints.config.reader import Reader
from endpoints.config.routing import read_deployments, read_routing
from endpoints.config.specs import EndpointSpec, GroupSpec, ModelSpec
from endpoints.config.yamlfile import join
from endpoints.models import EndpointKind, Source

GROUP_FIELDS = frozenset(
    {
        "group",
        "apiKey",
        "instanceName",
        "deploymentName",
        "version",
        "baseURL",
        "serverless",
        "assistants",
        "additionalHeaders",
        "addParams",
        "dropParams",
        "models",
    }
)
AZURE_FIELDS = frozenset({"groups", "assistants", "rateLimit", "fallbacks", "routing"})
#: Our keys in a group's model mapping (LibreChat drops them).
MODEL_EXTENSIONS = frozenset({"deployments", "routing"})


def read_azure(r: Reader, item: dict[str, Any], path: str) -> list[EndpointSpec]:
    schema.check_fields(r, item, schema.AZURE, path, ours=EXTENSION_KEYS | {"groups"})
    azure = EndpointSpec(name=EndpointKind.AZURE_OPENAI, kind=EndpointKind.AZURE_OPENAI, source=Source.YAML)
    azure.rate_limit = read_rate_limit(r, item, path)
    azure.fallbacks, azure.fallback_where = read_fallbacks(r, item, path)
    azure.routing = read_routing(r, item, path)
    azure.extra = {key: value for key, value in item.items() if key not in AZURE_FIELDS}
    flag = r.boolean(item, "assistants", path)
    groups = item.get("groups")
    here = join(path, "groups")
    if "groups" not in item:
        r.error(here, "is required: a list of at least one group")
        return [azure]
    if not isinstance(groups, list) or not groups:
        r.error(here, "expected a list of at least one group")
        return [azure]
    group_names: set[str] = set()
    model_groups: dict[str, str] = {}
    assistant_models: list[ModelSpec] = []
    for index, data in enumerate(groups):
        gpath = join(here, index)
        if not isinstance(data, dict):
            r.error(gpath, "expected a mapping with group, apiKey and models")
            continue
        group = _group(r, data, gpath, index)
        check_url(r, group.base_url, join(gpath, "baseURL"))
        if group.group in group_names:
            r.error(join(gpath, "group"), f"duplicate group name {group.group!r}; group names must be unique")
            continue
        group_names.add(group.group)
        azure.groups.append(group)
        for model in _group_models(r, data, gpath, group):
            if model.model_id in model_groups:
                r.error(
                    join(join(gpath, "models"), model.model_id),
                    f"model {model.model_id!r} is already in group {model_groups[model.model_id]!r}; "
                    "model names must be unique across groups",
                )
                continue
            model_groups[model.model_id] = group.group
            azure.models.append(model)
            if group.assistants:
                assistant_models.append(ModelSpec(**{**model.__dict__, "overrides": dict(model.overrides),
                                                    "deployments": [], "routing": None}))  # fmt: skip
    if flag and not assistant_models and not r.failed(here):
        r.error(
            join(path, "assistants"),
            "no group has `assistants: true`; LibreChat refuses to start without a model for azureAssistants",
        )
    specs = [azure]
    if assistant_models:
        specs.append(
            EndpointSpec(
                name=EndpointKind.AZURE_ASSISTANTS,
                kind=EndpointKind.AZURE_ASSISTANTS,
                source=Source.YAML,
                models=assistant_models,
            )
        )
    return specs


def _group(r: Reader, data: dict[str, Any], path: str, index: int) -> GroupSpec:
    schema.check_fields(r, data, schema.AZURE_GROUP, path)
    group = GroupSpec(
        group=r.string(data, "group", path, required=True),
        api_key=r.string(data, "apiKey", path, required=True),
        position=index,
        instance_name=r.string(data, "instanceName", path),
        deployment_name=r.string(data, "deploymentName", path),
        version=r.string(data, "version", path),
        base_url=r.string(data, "baseURL", path),
        serverless=r.boolean(data, "serverless", path),
        assistants=r.boolean(data, "assistants", path),
        headers=r.string_map(data, "additionalHeaders", path),
        add_params=dict(data["addParams"]) if isinstance(data.get("addParams"), dict) else {},
        drop_params=r.string_list(data, "dropParams", path) or [],
        extra={key: value for key, value in data.items() if key not in GROUP_FIELDS},
    )
    for key, value in (("apiKey", group.api_key), ("baseURL", group.base_url), ("instanceName", group.instance_name),
                       ("deploymentName", group.deployment_name), *group.headers.items()):  # fmt: skip
        r.references(value, join(path, key) if key in GROUP_FIELDS else join(join(path, "additionalHeaders"), key))
    if group.serverless and not group.base_url:
        r.error(join(path, "baseURL"), f"group {group.group!r} is serverless and needs a baseURL")
    if not group.serverless and not group.instance_name:
        r.error(join(path, "instanceName"), f"group {group.group!r} needs an instanceName (or serverless: true)")
    return group


def _group_models(r: Reader, data: dict[str, Any], path: str, group: GroupSpec) -> list[ModelSpec]:
    models = r.mapping(data, "models", path, required=True)
    here = join(path, "models")
    if models is not None and not models:
        r.warn(here, f"group {group.group!r} lists no models")
    result: list[ModelSpec] = []
    for name, value in (models or {}).items():
        mpath = join(here, name)
        spec = ModelSpec(model_id=name, source=Source.YAML, group=group.group)
        if isinstance(value, dict):
            schema.check_fields(r, value, schema.AZURE_MODEL, mpath, ours=MODEL_EXTENSIONS)
            spec.deployment_name = r.string(value, "deploymentName", mpath)
            spec.api_version = r.string(value, "version", mpath)
            spec.deployments = read_deployments(r, value, mpath, azure=True)
            spec.where = mpath
            spec.routing = read_routing(r, value, mpath)
            spec.overrides = {key: value[key] for key in ("deploymentName", "version") if key in value}
        elif value is False:
            r.warn(mpath, "`false` still lists the model, as in LibreChat; remove the line to leave it out")
        elif value is not True:
            r.error(mpath, "expected true or a mapping with deploymentName and version")
            continue
        if not group.serverless:
            # As LibreChat: a model's own key, even empty, hides the group's.
            own = value if isinstance(value, dict) else {}
            if not (spec.deployment_name if "deploymentName" in own else group.deployment_name):
                r.error(
                    mpath, f"model {name!r} in group {group.group!r} needs a deploymentName (its own or the group's)"
                )
            if not (spec.api_version if "version" in own else group.version):
                r.error(mpath, f"model {name!r} in group {group.group!r} needs a version (its own or the group's)")
        result.append(spec)
    return result
