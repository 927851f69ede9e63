"""Settings for the test suite: the normal settings with TESTING on (no SECRET_KEY
or CREDS_KEY needed; development keys are used).

A developer's ``.env`` is never read (``ENV_FILE`` is emptied before the settings
load), so ``scripts/run`` then ``scripts/test`` behaves as ``scripts/test`` alone;
server processes started by tests inherit that from this process's environment."""

import os

os.environ.setdefault("TESTING", "true")
os.environ["ENV_FILE"] = ""

# Parallel workers (pytest-xdist) each get their own Redis database, so one
# worker's cache.clear() cannot wipe another's counters: the ones after REDIS_URL's
# (/0 -> 1, 2 …; /7 -> 8, 9 …), so two checkouts on one Redis can keep apart.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if os.environ.get("REDIS_URL") and _worker:
    _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    _first = int(_db) if _db.isdigit() else 0
    os.environ["REDIS_URL"] = f"{_base}/{_first + 1 + int(_worker.removeprefix('gw') or 0)}"

from librechat_site.settings import *  # noqa: E402,F403  (the environment above must be set first)

# A file (not shared-cache memory) for the SQLite test database, so the live
# ASGI servers of the tests can write from their own threads and processes;
# pytest-xdist adds a per-worker suffix to the name.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    (BASE_DIR / "var").mkdir(exist_ok=True)  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}  # noqa: F405

# Hashing test users' passwords slowly buys nothing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Static files come from the apps' folders (WHITENOISE_USE_FINDERS); nothing is collected.
STATIC_ROOT = None  # type: ignore[assignment]
