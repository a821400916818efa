"""API throttles: a client over its rate gets 429 with Retry-After; each user and each
anonymous address has its own count, kept in the ``throttle`` cache (Redis when configured,
so every process of a deployment shares it)."""

import os
import subprocess
import sys
import uuid

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from config.limits import client_ip

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/AEB"


@pytest.fixture(autouse=True)
def fresh_counts():
    """The test settings count in this process's memory; each test starts from zero.

    Only that memory is cleared: clearing a Redis cache flushes its whole database.
    """

    def clear():
        cache = caches["throttle"]
        if isinstance(cache, LocMemCache):
            cache.clear()

    clear()
    yield
    clear()


def test_a_user_over_the_rate_gets_429_with_retry_after(api, members, settings):
    settings.SAFECASE_API_THROTTLE_USER = "3/min"
    client = api(members["viewer"])
    assert [client.get(f"{BASE}/requirements/").status_code for _ in range(3)] == [200] * 3
    response = client.get(f"{BASE}/requirements/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["detail"].startswith("Request was throttled.")
    # Another user has a count of their own.
    assert api(members["engineer"]).get(f"{BASE}/requirements/").status_code == 200


def test_anonymous_callers_are_counted_by_address(client, project, settings):
    settings.SAFECASE_API_THROTTLE_ANON = "2/min"
    statuses = [client.get("/api/schema/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/api/schema/", REMOTE_ADDR="203.0.113.9").status_code == 200
    # X-Forwarded-For written by the client is no way round it (no proxy is configured).
    spoofed = client.get("/api/schema/", headers={"X-Forwarded-For": "203.0.113.10"})
    assert spoofed.status_code == 429


def test_webhooks_have_their_own_rate(client, project, settings):
    settings.SAFECASE_API_THROTTLE_WEBHOOK = "2/min"
    url = f"{BASE}/webhooks/gitlab/"
    statuses = [client.post(url, b"{}", content_type="application/json").status_code]
    statuses += [client.post(url, b"{}", content_type="application/json").status_code]
    statuses += [client.post(url, b"{}", content_type="application/json").status_code]
    assert statuses == [401, 401, 429]


def test_an_empty_rate_means_unlimited(api, members, settings):
    settings.SAFECASE_API_THROTTLE_USER = ""
    client = api(members["viewer"])
    assert {client.get(f"{BASE}/requirements/").status_code for _ in range(5)} == {200}


def test_client_ip_trusts_only_the_configured_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2")
    assert client_ip(request) == "10.0.0.1"
    settings.SAFECASE_PROXY_COUNT = 1
    assert client_ip(request) == "2.2.2.2"
    settings.SAFECASE_PROXY_COUNT = 2
    assert client_ip(request) == "1.1.1.1"
    settings.SAFECASE_PROXY_COUNT = 3  # fewer hops than proxies: the header is not trusted
    assert client_ip(request) == "10.0.0.1"
    settings.SAFECASE_PROXY_COUNT = 1
    garbage = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, not-an-ip")
    assert client_ip(garbage) == "10.0.0.1"
    assert client_ip(rf.get("/", REMOTE_ADDR="")) is None  # stored as no address, not text


def throttle_cache(**env) -> str:
    code = "from django.conf import settings; print(settings.CACHES['throttle']['BACKEND'])"
    environ = {k: v for k, v in os.environ.items() if k not in ("SAFECASE_CACHE_URL",)}
    environ.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="1", CELERY_BROKER_URL="")
    environ.update(env)
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_throttle_cache_is_redis_when_redis_is_configured():
    assert throttle_cache().endswith("LocMemCache")
    redis = "django.core.cache.backends.redis.RedisCache"
    assert throttle_cache(SAFECASE_CACHE_URL="redis://127.0.0.1:6379/9") == redis
    assert throttle_cache(CELERY_BROKER_URL="redis://127.0.0.1:6379/9") == redis
    assert throttle_cache(CELERY_BROKER_URL="amqp://guest@127.0.0.1//").endswith("LocMemCache")


@pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"),
    reason="needs Redis (CELERY_BROKER_URL=redis://...), as in CI",
)
def test_counts_in_redis_are_seen_by_every_process(api, members, settings):
    import redis

    url = os.environ["CELERY_BROKER_URL"]
    prefix = f"safecase-throttle-test-{uuid.uuid4().hex}"  # never clear(): that flushes the db
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        },
    }
    settings.SAFECASE_API_THROTTLE_USER = "2/min"
    client = api(members["viewer"])
    try:
        statuses = [client.get(f"{BASE}/requirements/").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        # Another process (here: another connection) sees the same count.
        keys = redis.Redis.from_url(url).keys(f"{prefix}:*")
        assert any(b"throttle_user_" in key for key in keys)
    finally:
        other = redis.Redis.from_url(url)
        for key in other.keys(f"{prefix}:*"):
            other.delete(key)


def test_an_unreachable_throttle_cache_does_not_take_the_api_down(api, members, settings):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        },
    }
    settings.SAFECASE_API_THROTTLE_USER = "1/min"
    client = api(members["viewer"])
    assert [client.get(f"{BASE}/requirements/").status_code for _ in range(2)] == [200, 200]
