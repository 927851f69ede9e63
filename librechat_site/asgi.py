"""ASGI entry point.

Hot, long-lived HTTP paths (chat streaming, the OpenAI-compatible gateway) are
channels consumers; everything else (admin, pages, REST resources) is plain
Django.  See ../shared/PERFORMANCE.md for why.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "librechat_site.settings")
django_asgi_app = get_asgi_application()

from librechat_site.routing import build_application  # noqa: E402  (needs Django set up first)

application = build_application(django_asgi_app)
