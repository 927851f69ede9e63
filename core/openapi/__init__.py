"""The OpenAPI 3.1 description of the whole API, served at ``/api/schema/`` (docs at ``/api/docs/``).

drf-spectacular introspects the DRF views; :func:`postprocess` (a ``POSTPROCESSING_HOOKS``
entry) then adds what it cannot see: the channels routes (:mod:`.channels`, Anthropic's
Messages API in :mod:`.messages`) and the contract's error bodies as components (:mod:`.errors`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from core.openapi import channels, errors, messages


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """``endpoints.auth.drf.BearerOrTokenAuthentication`` as the ``tokenAuth`` security scheme."""

    target_class = "endpoints.auth.drf.BearerOrTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token made on /tokens/ (`lcp_…`) or an admin-made DRF token. "
            "`Authorization: Token <key>` works too.",
        }


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemas = {**errors.components(), **channels.SCHEMAS, **messages.SCHEMAS}
    result.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    result["paths"] = {**result.get("paths", {}), **channels.paths(), **messages.paths()}
    return result
