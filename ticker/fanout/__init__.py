"""The fan-out: one reader of the log per process, its memory, and every subscriber.

- `reader.py`: `Fanout`, what the app holds: the task that follows the broker
  (ticker/broker/), reconnects, checks the epoch and reloads; it applies each entry
  to the state and has the hub deliver it.
- `state.py`: channels, items and positions at the head, the ring of recent events,
  the `reset` frames.
- `hub.py`: the subscribers, where each starts (reset, ring, or the broker's history),
  delivery passes with coalescing, and the pings.
- `reach.py`: how many streams each item went out to.
- `subscriber.py`: `Subscriber`, what the hub writes to (ticker/stream/ implements it).
"""

from ticker.broker import BLOCK_MS
from ticker.fanout.hub import COALESCE_BYTES, Hub
from ticker.fanout.reach import Reach
from ticker.fanout.reader import EpochChanged, Fanout, StartupError, redis_up, reloads
from ticker.fanout.state import PUBLIC_TYPES, RESET_ITEMS, Event, State
from ticker.fanout.subscriber import Subscriber

__all__ = [
    "BLOCK_MS",
    "COALESCE_BYTES",
    "PUBLIC_TYPES",
    "RESET_ITEMS",
    "EpochChanged",
    "Event",
    "Fanout",
    "Hub",
    "Reach",
    "StartupError",
    "State",
    "Subscriber",
    "redis_up",
    "reloads",
]
