"""Units of the desk's second CSRF layer (where a request says it comes from) and of
its device cookies (which browsers the login throttle knows)."""

from __future__ import annotations

import time

import pytest
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from ticker.auth.origin import Source, request_source
from ticker.desk import devices
from ticker.desk.devices import DEVICE_COOKIE, Devices

HOST = "desk.example:8000"


@pytest.mark.parametrize(
    ("headers", "source"),
    [
        ({"sec-fetch-site": "same-origin"}, Source.SAME_ORIGIN),
        ({"sec-fetch-site": "none"}, Source.SAME_ORIGIN),  # the user's own action
        ({"sec-fetch-site": "same-site"}, Source.CROSS_SITE),  # another subdomain
        ({"sec-fetch-site": "cross-site"}, Source.CROSS_SITE),
        # Sec-Fetch-Site decides when present, whatever Origin says.
        ({"sec-fetch-site": "cross-site", "origin": f"http://{HOST}"}, Source.CROSS_SITE),
        ({"sec-fetch-site": "Same-Origin", "origin": "https://evil.example"}, Source.SAME_ORIGIN),
        ({"origin": f"http://{HOST}"}, Source.SAME_ORIGIN),
        ({"origin": f"https://{HOST.upper()}"}, Source.SAME_ORIGIN),
        ({"origin": "https://desk.example"}, Source.CROSS_SITE),  # another port
        ({"origin": "https://evil.example"}, Source.CROSS_SITE),
        ({"origin": "null"}, Source.CROSS_SITE),
        ({"origin": "garbage"}, Source.CROSS_SITE),
        ({}, Source.UNKNOWN),  # a script or an old browser: the token decides
    ],
)
def test_request_source(headers: dict[str, str], source: Source) -> None:
    assert request_source(Headers({"host": HOST, **headers})) is source


def request_with(cookie: str | None) -> Request:
    headers = [(b"cookie", f"{DEVICE_COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "POST", "path": "/desk/login", "headers": headers})


def cookie_of(response: Response) -> str:
    header = response.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/desk/login" in header
    return header.split(";")[0].split("=", 1)[1]


def test_device_ids_per_account_and_only_with_the_signature() -> None:
    d = Devices("a secret")
    assert d.device_for(request_with(None), "admin") is None
    response = Response()
    d.remember(request_with(None), response, "admin", secure=False)
    cookie = cookie_of(response)
    device = d.device_for(request_with(cookie), "Admin ")  # the name as typed
    assert device and d.device_for(request_with(cookie), "rania") is None
    assert Devices("another secret").device_for(request_with(cookie), "admin") is None
    assert d.device_for(request_with(cookie[:-2] + "xx"), "admin") is None
    # A new login gives a new id; the other accounts' ids stay.
    response = Response()
    d.remember(request_with(cookie), response, "rania", secure=True)
    assert "Secure" in response.headers["set-cookie"]
    both = cookie_of(response)
    assert d.device_for(request_with(both), "admin") == device
    assert d.device_for(request_with(both), "rania") not in (None, device)


def test_a_browser_keeps_the_most_recent_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Devices("a secret")
    cookie = None
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    for i in range(devices.MAX_ACCOUNTS + 1):
        clock[0] += 10
        response = Response()
        d.remember(request_with(cookie), response, f"user{i}", secure=False)
        cookie = cookie_of(response)
    kept = [
        i for i in range(devices.MAX_ACCOUNTS + 1) if d.device_for(request_with(cookie), f"user{i}")
    ]
    assert kept == list(range(1, devices.MAX_ACCOUNTS + 1))  # the oldest went first
    clock[0] += devices.LIFETIME
    assert d.device_for(request_with(cookie), f"user{devices.MAX_ACCOUNTS}") is None


def test_an_unknown_account_costs_one_argon2_check_like_a_wrong_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Response times do not tell who has an account: no user still verifies a hash."""
    import asyncio

    from ticker.desk import login

    checked: list[str] = []
    real = login.verify_password

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(login, "verify_password", counting)
    assert asyncio.run(login.check_password(None, "anything")) is False
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")
