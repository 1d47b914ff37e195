"""A redis-server and a `ticker serve` of the module's own, in place of the session's.

The desk's pages list every channel, user and token in the store. By the time the
browser tests run, the session's store holds hundreds made by earlier tests, and each
full-page check and screenshot took up to five times as long (40 s instead of 8 s for
the French desk tour). A module that imports these fixtures gets a fresh store:

    from tests.own_store import own_redis, own_server, own_token  # noqa: F401

They override `redis_server`, `server` and `token` by name, so the shared `channel`
and `api` fixtures use them too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import RedisServer, TickerServer, make_token, suite_server


@pytest.fixture(scope="module", name="redis_server")
def own_redis() -> Iterator[RedisServer]:
    redis = RedisServer().start()
    yield redis
    redis.kill()


@pytest.fixture(scope="module", name="server")
def own_server(redis_server: RedisServer) -> Iterator[TickerServer]:
    ticker = suite_server(redis_server.url).start()
    yield ticker
    ticker.stop()


@pytest.fixture(scope="module", name="token")
def own_token(redis_server: RedisServer) -> str:
    return make_token(redis_server.url, "tests")
