"""The service fixtures of conftest.py connect, isolate, clean up, and skip or fail."""

from __future__ import annotations

import pytest
from conftest import postgres_database, redis_namespace

psycopg2 = pytest.importorskip("psycopg2")
redis = pytest.importorskip("redis")

pytestmark = pytest.mark.services

UNREACHABLE = {"postgres": (postgres_database, "postgresql://postgres@127.0.0.1:1/postgres"),
               "redis": (redis_namespace, "redis://127.0.0.1:1/0")}


def _database_exists(admin_url: str, name: str) -> bool:
    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() == (1,)
    finally:
        conn.close()


def test_postgres_url_connects_to_its_own_database(postgres_url):
    conn = psycopg2.connect(postgres_url)
    with conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        assert cur.fetchone()[0] == postgres_url.rsplit("/", 1)[1]
        assert cur.fetchone() is None
    conn.close()


def test_postgres_database_is_dropped_even_with_open_connections():
    from conftest import POSTGRES_URL

    with postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith("lepton_test_")
        left_open = psycopg2.connect(url)  # a test that forgets to close its connection
        with left_open.cursor() as cur:
            cur.execute("CREATE TABLE t (x int)")
        left_open.commit()
        assert _database_exists(POSTGRES_URL, name)
    assert not _database_exists(POSTGRES_URL, name)
    left_open.close()


def test_redis_url_connects_with_its_own_prefix(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set(redis_url.prefix + "k", b"v")
    assert client.get(redis_url.prefix + "k") == b"v"
    client.close()


def test_redis_keys_under_the_prefix_are_deleted():
    with redis_namespace() as url:
        client = redis.Redis.from_url(url)
        client.set(url.prefix + "a", 1)
        client.set(url.prefix + "b", 2)
        other = url.prefix.rstrip(":") + "-not-mine"
        client.set(other, 3)
    try:
        assert list(client.scan_iter(match=url.prefix + "*")) == []
        assert client.get(other) == b"3"  # only the prefix's keys go
    finally:
        client.delete(other)
        client.close()


@pytest.mark.parametrize("service", sorted(UNREACHABLE))
def test_unreachable_service_skips_with_reason(service, monkeypatch):
    monkeypatch.delenv("LEPTON_REQUIRE_SERVICES", raising=False)
    make, url = UNREACHABLE[service]
    with pytest.raises(pytest.skip.Exception, match=f"{service} is not reachable at"), make(url):
        pass


@pytest.mark.parametrize("service", sorted(UNREACHABLE))
def test_unreachable_service_fails_when_required(service, monkeypatch):
    monkeypatch.setenv("LEPTON_REQUIRE_SERVICES", "1")
    make, url = UNREACHABLE[service]
    with pytest.raises(pytest.fail.Exception, match="LEPTON_REQUIRE_SERVICES=1"), make(url):
        pass
