from __future__ import annotations

from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "endpoints"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from .catalog import bump_version
        from .models import AzureGroup, Endpoint, EndpointModel

        def changed(**_kwargs: object) -> None:
            bump_version()

        for model in (Endpoint, AzureGroup, EndpointModel):
            post_save.connect(changed, sender=model, dispatch_uid=f"bump-{model.__name__}")
            post_delete.connect(changed, sender=model, dispatch_uid=f"bump-del-{model.__name__}")
