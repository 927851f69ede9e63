from __future__ import annotations

from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "endpoints"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from endpoints.catalog.snapshot import bump_version
        from endpoints.models import AzureGroup, Endpoint, EndpointModel

        def changed(**_kwargs: object) -> None:
            bump_version()

        from django.test.signals import setting_changed

        def setting(setting: str, **_kwargs: object) -> None:
            if setting in ("LIBRECHAT_ENDPOINT_VARS", "ENVIRON"):
                bump_version(rows_changed=False)

        setting_changed.connect(setting, weak=False, dispatch_uid="bump-on-setting")
        from django.contrib.auth import get_user_model
        from django.core.signals import request_finished
        from rest_framework.authtoken.models import Token

        from endpoints.auth import endusers, lastused, tokens
        from endpoints.models import ApiToken, EndUser

        def token_gone(instance: Token, **_kwargs: object) -> None:
            tokens.forget(instance.key)

        def api_token_changed(instance: ApiToken, **_kwargs: object) -> None:
            tokens.forget_hash(instance.key_hash)

        def user_changed(instance: object, **_kwargs: object) -> None:
            tokens.forget_user(instance.pk)  # type: ignore[attr-defined]
            endusers.forget_user(instance.pk)  # type: ignore[attr-defined]

        def end_user_changed(instance: EndUser, **_kwargs: object) -> None:
            endusers.forget(instance)

        post_delete.connect(token_gone, sender=Token, weak=False, dispatch_uid="forget-token")
        post_save.connect(api_token_changed, sender=ApiToken, weak=False, dispatch_uid="forget-api-token")
        post_delete.connect(api_token_changed, sender=ApiToken, weak=False, dispatch_uid="forget-api-token-del")
        post_save.connect(end_user_changed, sender=EndUser, weak=False, dispatch_uid="forget-end-user")
        post_delete.connect(end_user_changed, sender=EndUser, weak=False, dispatch_uid="forget-end-user-del")
        # "last used" of personal tokens is written once the response has gone (endpoints/auth/lastused.py).
        request_finished.connect(lastused.on_request_finished, weak=False, dispatch_uid="token-last-used")
        post_save.connect(user_changed, sender=get_user_model(), weak=False, dispatch_uid="forget-user-tokens")
        post_delete.connect(user_changed, sender=get_user_model(), weak=False, dispatch_uid="forget-user-tokens-del")
        for model in (Endpoint, AzureGroup, EndpointModel):
            post_save.connect(changed, sender=model, weak=False, dispatch_uid=f"bump-{model.__name__}")
            post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"bump-del-{model.__name__}")
