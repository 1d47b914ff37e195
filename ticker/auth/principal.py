"""Who is making a change, and on which channels they may make it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """A token or a desk user; `channels` empty means every channel."""

    actor: str  # "token:NAME" or "user:NAME": recorded in the log, never shown publicly
    channels: tuple[str, ...] = ()
    admin: bool = False  # an admin desk user or an `--admin` token: may read /api/v1/status

    def allows(self, channel: str) -> bool:
        return not self.channels or channel in self.channels
