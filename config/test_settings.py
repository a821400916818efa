"""Test settings: the real settings with a fixed secret, plain HTTP and fast password hashing."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-any-deployment-0123456789")
os.environ.setdefault(
    "SAFECASE_STORAGE_URL", f"file://{tempfile.mkdtemp(prefix='safecase-test-store-')}"
)

os.environ.setdefault(
    "SAFECASE_SIGNING_KEY_FILE",
    os.path.join(tempfile.mkdtemp(prefix="safecase-test-keys-"), "ledger.key"),
)

from config.settings import *  # noqa: E402,F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Campaign runs execute inside the request that starts them, so a test sees them finished; the
# tests of the background worker turn it on.
SAFECASE_BACKGROUND_RUNS = False
# Between transactional tests the owner empties the ledger tables (tests/postgresql_backend).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.postgresql_backend"  # noqa: F405
# The suite sends many API requests from one client: rates far above it, per second so the
# counters stay short; a test that checks throttling sets its own rate. Each run counts in
# its own process memory, never in a Redis shared with other runs.
SAFECASE_API_THROTTLE_ANON = "10000/s"
SAFECASE_API_THROTTLE_USER = "10000/s"
SAFECASE_API_THROTTLE_WEBHOOK = "10000/s"
# Sessions in the database alone, whatever the broker, so the pinned query counts are the same
# on both runs of the suite; the production set's tests run the Redis-cached sessions.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"},
}
