"""What Django's error reports may show of the settings: nothing that holds a secret.

Django masks settings whose names mention API, AUTH, TOKEN, KEY, SECRET, PASS, SIGNATURE or
HTTP_COOKIE (recursing into dicts).  Connection strings carry passwords under other names
(``REDIS_URL``, a cache's ``LOCATION``, the channel layer's ``hosts``), and the process
environment is a setting too (``ENVIRON``): those are masked as well.
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|LOCATION|HOSTS|ENVIRON|DSN|CREDS", flags=re.I
    )
