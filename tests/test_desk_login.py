"""Login throttling against a real `ticker serve`: an attacker
cannot keep `admin` out, and is itself refused.

Client addresses come through `X-Forwarded-For`, which uvicorn trusts from
127.0.0.1 (a local proxy, as deployed). The module has its own Redis and server,
so its throttle counters meet no other test's.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.desk_support import PASSWORD, csrf_of, hidden, login_attempt
from tests.support import RedisServer, TickerServer, cli
from ticker.desk import throttle
from ticker.desk.devices import DEVICE_COOKIE

ATTACKER = "198.51.100.66"


@pytest.fixture(scope="module")
def desk() -> Iterator[TickerServer]:
    redis = RedisServer().start()
    # Said explicitly: the throttle must see the address the local proxy wrote.
    server = TickerServer(redis.url, FORWARDED_ALLOW_IPS="127.0.0.1").start()
    # `ticker serve` made `admin` with a random password; give it a known one.
    cli(redis.url, "user", "passwd", "admin", input=PASSWORD + "\n")
    yield server
    server.stop()
    redis.kill()


@pytest.fixture(autouse=True)
def fresh_counters(desk: TickerServer) -> None:
    import redis as redis_py

    r = redis_py.Redis.from_url(desk.redis_url)
    for key in r.scan_iter("ticker:throttle:*"):
        r.delete(key)


def client(base: str, address: str) -> httpx.Client:
    return httpx.Client(
        base_url=base, follow_redirects=False, timeout=30, headers={"X-Forwarded-For": address}
    )


def log_out(c: httpx.Client) -> None:
    csrf = csrf_of(c.get("/desk/compose").text)
    assert c.post("/desk/logout", data={"csrf": csrf}).status_code == 303


def known_device(base: str, address: str) -> httpx.Client:
    """The owner's browser: it logged in to `admin` once (and out again), so it holds
    a device cookie for the account."""
    c = client(base, address)
    assert login_attempt(c, "admin", PASSWORD).status_code == 303
    assert DEVICE_COOKIE in c.cookies
    log_out(c)
    return c


def test_one_attacker_address_cannot_lock_out_admin(desk: TickerServer) -> None:
    owner = known_device(desk.base, "203.0.113.10")
    with client(desk.base, ATTACKER) as attacker:
        codes = [login_attempt(attacker, "admin", f"guess {i}").status_code for i in range(30)]
        # 5 failures for admin from this address, then 429 for the rest of the window.
        assert codes == [401] * 5 + [429] * 25
        # A spray over other names ends in 429 for everything from the address.
        spray = [login_attempt(attacker, f"user{i}", "guess").status_code for i in range(16)]
        assert spray == [401] * 15 + [429]
        refused = login_attempt(attacker, "admin", PASSWORD)  # even the right one
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    # The owner's known device logs in, even from the attacker's own address (one NAT).
    owner.headers["X-Forwarded-For"] = ATTACKER
    assert login_attempt(owner, "admin", PASSWORD).status_code == 303
    owner.close()
    # A browser that never logged in, from an address with no failures: not refused.
    with client(desk.base, "192.0.2.44") as fresh:
        assert login_attempt(fresh, "admin", PASSWORD).status_code == 303


def test_distributed_guessing_holds_off_strangers_never_known_devices(
    desk: TickerServer,
) -> None:
    owner = known_device(desk.base, "203.0.113.20")
    with client(desk.base, "203.0.113.21") as colleague:  # another account's device
        cli(desk.redis_url, "user", "add", "rania", "--role", "editor", input=PASSWORD + "\n")
        assert login_attempt(colleague, "rania", PASSWORD).status_code == 303
        log_out(colleague)
        limit = throttle.ACCOUNT.failures
        per_address = throttle.ACCOUNT_ADDRESS.failures
        for n in range(limit // per_address):  # 10 addresses, 5 failures each: none blocked
            with client(desk.base, f"198.51.100.{n + 1}") as bot:
                for i in range(per_address):
                    assert login_attempt(bot, "admin", f"guess {n}/{i}").status_code == 401
        # Unknown clients for admin now wait, until the window ends ...
        with client(desk.base, "192.0.2.45") as fresh:
            r = login_attempt(fresh, "admin", PASSWORD)
            assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 900
        # ... and so does a device known for another account, or a forged device cookie.
        assert login_attempt(colleague, "admin", PASSWORD).status_code == 429
    with client(desk.base, "192.0.2.46") as forger:
        forger.cookies.set(DEVICE_COOKIE, owner.cookies[DEVICE_COOKIE][:-2] + "xx", path="/desk")
        assert login_attempt(forger, "admin", PASSWORD).status_code == 429
    # The owner's device is throttled only by its own failures.
    assert login_attempt(owner, "admin", PASSWORD).status_code == 303
    log_out(owner)
    for i in range(throttle.DEVICE.failures):
        assert login_attempt(owner, "admin", f"typo {i}").status_code == 401
    # Its own 5 failures used up: an unknown client again, under the account's wait.
    assert login_attempt(owner, "admin", PASSWORD).status_code == 429
    owner.close()


def test_every_wait_ends(desk: TickerServer) -> None:
    import redis as redis_py

    with client(desk.base, ATTACKER) as c:
        for i in range(throttle.ACCOUNT_ADDRESS.failures):
            assert login_attempt(c, "admin", f"guess {i}").status_code == 401
        r = login_attempt(c, "admin", PASSWORD)
        assert r.status_code == 429
        assert 0 < int(r.headers["retry-after"]) <= throttle.ACCOUNT_ADDRESS.window
        # Says how long to wait, in Arabic's plural forms (one, two, then 3-10: few).
        minutes = -(-int(r.headers["retry-after"]) // 60)
        wait = {1: "دقيقة واحدة", 2: "دقيقتين"}.get(minutes, f"{minutes} دقائق")
        assert f"انتظر {wait} ثم" in r.text
        # Fixed windows from the first failure (here fast-forwarded in Redis): no lock
        # is ever permanent, and later failures never extend one.
        redis = redis_py.Redis.from_url(desk.redis_url)
        ttls = [redis.ttl(k) for k in redis.scan_iter("ticker:throttle:*")]
        assert ttls and all(0 < t <= throttle.ADDRESS.window for t in ttls)
        for key in redis.scan_iter("ticker:throttle:*"):
            redis.pexpire(key, 1)
        assert login_attempt(c, "admin", PASSWORD).status_code == 303


def test_typed_names_are_not_stored_in_clear(desk: TickerServer) -> None:
    import redis as redis_py

    with client(desk.base, "192.0.2.77") as c:
        form = c.get("/desk/login")
        long_name = "x" * 5000 + "\n\x1b[31m"
        r = c.post(
            "/desk/login",
            data={"csrf": hidden(form.text, "csrf"), "name": long_name, "password": "guess"},
        )
        assert r.status_code == 401
    keys = list(redis_py.Redis.from_url(desk.redis_url).scan_iter("ticker:throttle:*"))
    assert keys and all(len(k) < 120 and b"xxxx" not in k for k in keys)
