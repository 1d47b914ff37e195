"""What the fan-out delivers to: one connected stream (the transport in ticker/stream/
implements it, as Centrifuge's `Transport{Write, WriteMany, Close}`)."""

from __future__ import annotations

from ticker import metrics
from ticker.frames import Frame
from ticker.model import EventId

__all__ = ["Subscriber"]


class Subscriber:
    """One connected stream: its channel filter, and where its frames go.

    Subclasses say how frames are written (`write`) and how a subscriber that fell
    too far behind is let go (`drop`). While a resume is read from the broker, frames
    are held back (`held`) so that the replay goes out first.
    """

    __slots__ = ("channels", "dropped", "ended", "held", "seen")
    direct = False  # written to directly by the fan-out (StreamConnection)

    def __init__(self, channels: frozenset[str] | None) -> None:
        self.channels = channels  # None: every channel
        self.dropped = False
        self.held: list[Frame] | None = None
        # It has every event up to this id (sent, or in its reset or replay): the
        # fan-out sends it only what is newer. Set when it subscribes.
        self.seen: EventId = (0, 0)
        self.ended: str | None = None  # why the stream ended (a disconnect reason), once it has

    def push(self, frame: Frame) -> None:
        if self.held is not None:
            self.held.append(frame)
        elif not self.dropped:
            try:
                self.write(frame)
            except Exception:
                self.fail()
                raise  # the fan-out logs it and unsubscribes this one

    def release(self, first: list[Frame]) -> None:
        """Send `first`, then what was held back meanwhile, and go live."""
        held, self.held = self.held or [], None
        if not self.dropped and (first or held):
            self.write_many([*first, *held])

    def write(self, frame: Frame) -> None:
        raise NotImplementedError

    def write_many(self, frames: list[Frame]) -> None:
        raise NotImplementedError

    def ping(self) -> None:
        """Keep an idle connection open through proxies (subclasses that need it)."""

    def close(self, retry_ms: int) -> None:
        """End the stream, asking the client to come back after `retry_ms` (on shutdown)."""

    def fail(self) -> None:
        """Writing to it raised: end the stream, so that its client reconnects."""
        self.dropped = True
        self.end("error")

    def end(self, reason: str) -> None:
        """Count the stream's end, once: the first reason given is the one that holds."""
        if self.ended is None:
            self.ended = reason
            metrics.child(metrics.stream_disconnects, reason).inc()
