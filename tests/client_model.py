"""A subscriber that rebuilds the live list from the stream, checking exactness as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx

from ticker.model import parse_event_id
from ticker.tail import SseParser


class ExactnessError(AssertionError):
    pass


class ModelClient:
    """Applies events to its own copy of each channel's items, as a widget would.

    Fails on any event seen twice or out of order. `connect()` resumes from the
    last event it applied, exactly like a reconnecting EventSource.
    """

    def __init__(self, base: str, channels: list[str], allow_rewind: bool = False) -> None:
        self.base = base
        # A server whose Redis lost events (a failover) may send a `reset` with an id
        # below the last one seen; only such tests allow it.
        self.allow_rewind = allow_rewind
        self.channels = channels
        self.items: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in channels}
        self.last_id: str | None = None
        self.seen: set[str] = set()
        self.connects = 0
        self.events = 0
        self._task: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()

    def apply(self, event: str, event_id: str | None, data: dict[str, Any]) -> None:
        if event_id is None:
            raise ExactnessError(f"{event} without an id")
        rewind = event == "reset" and self.allow_rewind
        if self.last_id is not None and not rewind:
            if parse_event_id(event_id) < parse_event_id(self.last_id) or (
                event != "reset" and event_id == self.last_id
            ):
                raise ExactnessError(f"{event} {event_id} after {self.last_id}: out of order")
        if event == "reset":
            self.items[data["channel"]] = {i["id"]: i for i in data["items"]}
        else:
            if event_id in self.seen:
                raise ExactnessError(f"{event} {event_id} seen twice")
            self.seen.add(event_id)
            if event in ("publish", "update"):
                self.items[data["channel"]][data["id"]] = data
            elif event in ("retract", "expire"):
                self.items[data["channel"]].pop(data["id"], None)
            self.events += 1
        self.last_id = event_id

    def newest_first(self, channel: str) -> list[dict[str, Any]]:
        return sorted(
            self.items[channel].values(), key=lambda i: parse_event_id(i["id"]), reverse=True
        )

    async def _read(self) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        params = {"channels": ",".join(self.channels)}
        parser = SseParser()
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as client,
                client.stream(
                    "GET", f"{self.base}/api/v1/stream", params=params, headers=headers
                ) as response,
            ):
                assert response.status_code == 200, await response.aread()
                self.connects += 1
                async for chunk in response.aiter_raw():
                    for ev in parser.feed(chunk):
                        self.apply(ev.event, ev.id, json.loads(ev.data))
        finally:
            self.ended.set()

    def connect(self) -> None:
        assert self._task is None or self._task.done()
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task
            self._task = None

    def check(self) -> None:
        """Raise what went wrong in the reading task, if anything did."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            exc = self._task.exception()
            if exc is not None:
                raise exc

    async def wait_for(self, event_id: str, timeout: float = 5.0) -> None:
        target = parse_event_id(event_id)
        deadline = asyncio.get_running_loop().time() + timeout
        while self.last_id is None or parse_event_id(self.last_id) < target:
            self.check()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"client at {self.last_id}, waiting for {event_id}")
            await asyncio.sleep(0.01)
