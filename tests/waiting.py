"""Waiting for something to become true, with a deadline, instead of sleeping a fixed time.

A fixed sleep is either too short on a loaded machine (the test fails for nothing) or
too long everywhere else (the suite crawls). Polling returns as soon as the condition
holds and fails, saying what it waited for and what it last saw, when it never does.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

INTERVAL = 0.02


def _failure(
    what: str, timeout: float, last: object, error: BaseException | None
) -> AssertionError:
    seen = f"last raised {error!r}" if error is not None else f"last value {last!r}"
    return AssertionError(f"{what}: not true within {timeout} s ({seen})")


def wait_for(check: Callable[[], T], what: str, timeout: float = 10.0) -> T:
    """`check()` until it returns something true, which is returned. An exception it
    raises counts as "not yet" until the deadline; then the last one is reported."""
    deadline = time.monotonic() + timeout
    while True:
        error: BaseException | None = None
        last: T | None = None
        try:
            last = check()
            if last:
                return last
        except Exception as exc:
            error = exc
        if time.monotonic() > deadline:
            raise _failure(what, timeout, last, error) from error
        time.sleep(INTERVAL)


async def eventually(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """The asyncio form of `wait_for`: `check` may be a plain or an async function, and
    the loop keeps running (streams keep reading) while it waits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        error: BaseException | None = None
        last: Any = None
        try:
            result = check()
            last = await result if inspect.isawaitable(result) else result
            if last:
                return last
        except Exception as exc:
            error = exc
        if loop.time() > deadline:
            raise _failure(what, timeout, last, error) from error
        await asyncio.sleep(INTERVAL)
