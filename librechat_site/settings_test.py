"""Settings for the test suite: the normal settings with TESTING on (no SECRET_KEY
or CREDS_KEY needed; development keys are used)."""

import os

os.environ.setdefault("TESTING", "true")

from librechat_site.settings import *  # noqa: E402,F403
