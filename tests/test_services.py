"""tests/services.py: the private redis-server can go away and come back on the same port."""

from __future__ import annotations

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.services import RedisServer


def test_each_test_gets_a_fresh_database(redis_conn: Redis) -> None:
    assert redis_conn.dbsize() == 0
    redis_conn.set("left-behind", 1)  # the next test's database must not see this


def test_fresh_database_again(redis_conn: Redis) -> None:
    assert redis_conn.dbsize() == 0


def test_stop_and_start_on_the_same_port(redis_server: RedisServer, redis_url: str) -> None:
    client = Redis.from_url(redis_url, socket_connect_timeout=1)
    assert client.ping()
    port = redis_server.port
    redis_server.stop()
    with pytest.raises(RedisConnectionError):
        client.ping()
    redis_server.start()
    assert redis_server.port == port
    assert client.ping()  # redis-py reconnects by itself
    client.close()


def test_server_runs_again_after_a_test_stopped_it(redis_server: RedisServer, redis_url: str) -> None:
    redis_server.stop()
    with pytest.raises(RedisConnectionError):  # really down: the next test must find it started again
        Redis.from_url(redis_url).ping()


def test_next_test_finds_it_running(redis_conn: Redis) -> None:
    assert redis_conn.ping()
