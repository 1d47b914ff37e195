"""The waiting helpers the other tests rely on: they return as soon as the condition
holds, and fail saying what they waited for and what they last saw."""

from __future__ import annotations

import itertools

import pytest

from tests.waiting import eventually, wait_for


def test_wait_for_returns_the_first_true_value() -> None:
    counts = itertools.count()
    assert wait_for(lambda: next(counts) >= 3 and "done", "three polls") == "done"


def test_wait_for_fails_naming_the_condition_and_the_last_value() -> None:
    with pytest.raises(
        AssertionError, match=r"the list fills: not true within 0.1 s \(last value \[\]\)"
    ):
        wait_for(list, "the list fills", timeout=0.1)


def test_wait_for_retries_through_errors_and_reports_the_last() -> None:
    def check() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match=r"last raised ConnectionError\('refused'\)") as caught:
        wait_for(check, "the server answers", timeout=0.1)
    assert isinstance(caught.value.__cause__, ConnectionError)


async def test_eventually_awaits_async_checks() -> None:
    counts = itertools.count()

    async def check() -> int:
        return next(counts) >= 2

    assert await eventually(check, "two polls") is True
    with pytest.raises(AssertionError, match=r"never: not true within 0\.1 s"):
        await eventually(lambda: 0, "never", timeout=0.1)
