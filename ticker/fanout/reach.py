"""Reach: how many streams each item went out to, counted by this process.

Live deliveries are tallied per pass (ticker/fanout/hub.py adds one count per group of
subscribers, not per subscriber). Resets are counted per channel at connect, one
addition, and folded into per-item counts only when the channel's items next change
(or when the heartbeat takes the counts): a connect does not walk 100 items.
"""

from __future__ import annotations

import re
import time

from ticker.fanout.state import RESET_ITEMS, State
from ticker.frames import Frame
from ticker.model import parse_rfc3339

__all__ = ["Reach"]

_PUBLISH = re.compile(rb"id: (\d+-\d+)\nevent: publish\n")


class Reach:
    def __init__(self, state: State) -> None:
        self.state = state
        # Streams each item went out to since the heartbeat last took the counts.
        self.counts: dict[tuple[str, str], int] = {}
        # Resets sent per channel since its items last changed.
        self.resets_pending: dict[str, int] = {}

    def take(self) -> dict[tuple[str, str], tuple[int, int]]:
        """The streams each item went out to since the last call, with the item's expiry
        (ms; now for an item already gone), and start counting afresh."""
        self.fold_all()
        reach, self.counts = self.counts, {}
        now_ms = int(time.time() * 1000)
        out = {}
        for (channel, item_id), n in reach.items():
            item = self.state.items.get(channel, {}).get(item_id)
            expires_ms = _expires_ms(item["expires_at"]) if item is not None else now_ms
            out[(channel, item_id)] = (n, max(expires_ms, now_ms))
        return out

    def give_back(self, reach: dict[tuple[str, str], tuple[int, int]]) -> None:
        """Counts that could not be written: they go with the next ones."""
        for key, (n, _) in reach.items():
            self.counts[key] = self.counts.get(key, 0) + n

    def count_resets(self, channels: list[str]) -> None:
        pending = self.resets_pending
        for channel in channels:
            pending[channel] = pending.get(channel, 0) + 1

    def fold(self, channel: str) -> None:
        """Resets sent since the channel last changed reached every item they carried."""
        n = self.resets_pending.pop(channel, 0)
        items = self.state.items.get(channel)
        if not n or not items:
            return
        ids: list[str] = list(items)
        if len(ids) > RESET_ITEMS:  # a reset carries only what the snapshot does
            ids = [item["id"] for item in self.state.snapshot(channel)["items"]]
        counts = self.counts
        for item_id in ids:
            key = (channel, item_id)
            counts[key] = counts.get(key, 0) + n

    def fold_all(self) -> None:
        for channel in list(self.resets_pending):
            self.fold(channel)

    def count_replay(self, frames: list[Frame], channels: list[str]) -> None:
        """A resume's replayed publishes reached that stream (not on the hot path)."""
        counts = self.counts
        for frame in frames:
            item_id = _published_item(frame)
            if item_id is None:
                continue
            for channel in channels:
                if item_id in self.state.items.get(channel, ()):
                    key = (channel, item_id)
                    counts[key] = counts.get(key, 0) + 1
                    break


def _published_item(frame: Frame) -> str | None:
    """The item a frame publishes, if it is a `publish` event."""
    match = _PUBLISH.match(frame.raw)
    return match.group(1).decode() if match else None


def _expires_ms(rfc3339: str) -> int:
    return int(parse_rfc3339(rfc3339).timestamp() * 1000)
