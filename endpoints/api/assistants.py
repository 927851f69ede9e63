"""``GET /api/assistants?endpoint=assistants|azureAssistants``: the assistants a user may use.

As LibreChat's ``fetchAssistants`` (api/server/controllers/assistants/helpers.js): every page of
the upstream's list (``listAllAssistants``); for azureAssistants one list per assistants group,
each assistant's deployment named by its model (``listAssistantsForAzure``); then, for everyone
but admins (staff here), ``filterAssistants``: with ``privateAssistants`` only the user's own
(``metadata.author``), else only ``supportedIds``, else all but ``excludedIds``. The answer is
OpenAI's list shape; ``first_id``/``last_id`` name the first and last assistant *shown*.
"""

from __future__ import annotations

import asyncio
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApiError
from core.openapi import readapi
from core.openapi.errors import error_responses
from endpoints.catalog.snapshot import EndpointInfo, GroupInfo, ModelInfo, Snapshot, get_snapshot
from endpoints.catalog.targets import TargetError, UserCredentials, build_target
from endpoints.providers.assistants import AssistantsProvider
from endpoints.providers.errors import ProviderError, to_api_error
from endpoints.providers.http import from_sync


class AssistantsView(APIView):
    @extend_schema(
        operation_id="assistants_list",
        tags=["endpoints and models"],
        summary="The assistants you may use on an assistants endpoint",
        parameters=[
            OpenApiParameter("endpoint", OpenApiTypes.STR, required=True, enum=["assistants", "azureAssistants"]),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1 to 100 (default 100)"),
            OpenApiParameter("order", OpenApiTypes.STR, enum=["asc", "desc"]),
            OpenApiParameter("after", OpenApiTypes.STR),
            OpenApiParameter("before", OpenApiTypes.STR),
        ],
        responses={200: readapi.ASSISTANTS, **error_responses(400, 404, 429, 502, 504,
                                                              only=("invalid_request", "no_user_key", "expired_user_key", "invalid_user_key", "invalid_base_url", "endpoint_not_found", "upstream_rate_limited"))},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        name = request.query_params.get("endpoint", "")
        snapshot = get_snapshot()
        endpoint = snapshot.get(name)
        if endpoint is None or not endpoint.is_assistants:
            raise ApiError(
                "endpoint_not_found", f"There is no enabled assistants endpoint named {name!r}.", endpoint=name
            )
        query = list_query(request.query_params)
        user = request.user
        assert user.pk is not None  # IsAuthenticated
        body = from_sync(list_assistants)(snapshot, endpoint, user.pk, user.is_staff, query)
        return Response(body)


def list_query(params: Any) -> dict[str, Any]:
    """LibreChat's list parameters (limit 100 and order desc by default), validated."""
    errors: dict[str, list[str]] = {}
    limit = params.get("limit", "100")
    if not (limit.isdigit() and 1 <= int(limit) <= 100):
        errors["limit"] = ["Must be a whole number from 1 to 100."]
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        errors["order"] = ["Must be asc or desc."]
    if errors:
        raise ApiError("invalid_request", "The list parameters are not valid; see errors.", errors=errors)
    return {"limit": int(limit), "order": order, "after": params.get("after"), "before": params.get("before")}


async def list_assistants(
    snapshot: Snapshot, endpoint: EndpointInfo, user_id: int, is_staff: bool, query: dict[str, Any]
) -> dict[str, Any]:
    try:
        if endpoint.kind == "azureAssistants":
            data = await _azure_assistants(snapshot, endpoint, query)
        else:
            target = build_target(endpoint, None, await _credentials(endpoint, user_id))
            data = (await AssistantsProvider(target).list_assistants(**query))["data"]
    except TargetError as exc:
        raise ApiError(exc.kind, exc.message, **exc.context) from None  # type: ignore[arg-type]
    except ProviderError as exc:
        raise to_api_error(exc, endpoint.name) from None
    if not is_staff:
        data = filter_assistants(data, endpoint, str(user_id))
    return {
        "object": "list",
        "data": data,
        "first_id": data[0].get("id") if data else None,
        "last_id": data[-1].get("id") if data else None,
        "has_more": False,
    }


def filter_assistants(assistants: list[dict[str, Any]], endpoint: EndpointInfo, user_id: str) -> list[dict[str, Any]]:
    """LibreChat's filterAssistants: privateAssistants, else supportedIds, else excludedIds."""
    if endpoint.private_assistants:
        return [a for a in assistants if (a.get("metadata") or {}).get("author") == user_id]
    if endpoint.supported_ids:
        return [a for a in assistants if a.get("id") in endpoint.supported_ids]
    if endpoint.excluded_ids:
        return [a for a in assistants if a.get("id") not in endpoint.excluded_ids]
    return assistants


async def _credentials(endpoint: EndpointInfo, user_id: int) -> UserCredentials | None:
    if not (endpoint.user_provides_key or endpoint.user_provides_url):
        return None
    from endpoints.keys.store import user_credentials

    return await user_credentials(user_id, endpoint)


async def _azure_assistants(snapshot: Snapshot, endpoint: EndpointInfo, query: dict[str, Any]) -> list[dict[str, Any]]:
    """One list per group marked ``assistants``, each asked through the group's first model."""
    azure = snapshot.get("azureOpenAI")
    served: list[tuple[GroupInfo, list[ModelInfo]]] = []
    for group in endpoint.groups.values():
        models = [m for m in (azure.models if azure else ()) if m.group == group.group]
        if group.assistants and models:
            served.append((group, models))
    pages = await asyncio.gather(
        *(AssistantsProvider(build_target(endpoint, models[0])).list_assistants(**query) for _, models in served)
    )
    return [
        {**assistant, "model": _model_name(assistant.get("model"), group, models)}
        for (group, models), page in zip(served, pages, strict=True)
        for assistant in page["data"]
    ]


def _model_name(deployment: Any, group: GroupInfo, models: list[ModelInfo]) -> str:
    """The model a deployment serves (LibreChat: the group's first model when nothing matches)."""
    if deployment and group.deployment_name != deployment:
        for model in models:
            if model.deployment_name == deployment:
                return model.id
    return models[0].id
