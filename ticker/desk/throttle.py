"""Login throttling that cannot be turned against an account's owner.

OWASP's "device cookie" scheme (see docs/desk.md, *Too many wrong passwords*):

- A browser that has logged in to an account before holds a signed device cookie
  for it (ticker/desk/devices.py). Presenting it, a client is throttled only by
  its own failures: 5 per 5 minutes for that device. Nobody else's failures,
  from any address, ever refuse it.
- Any other client is an unknown client, throttled three ways, each a fixed
  window that starts with its first failure (so every refusal ends on time):
  5 failures per 5 minutes for one account from one address, 20 per 15 minutes
  from one address whatever the account (a spray), and 50 per 15 minutes for one
  account from all unknown clients together (a distributed guess). One address
  can add at most 20 to an account's count in its window, so the last limit is
  out of reach of a single attacker: it needs at least three addresses at full
  rate, and even then it holds off only unknown clients, never known devices.

Limits are checked before the password, so a refused attempt costs no argon2
work and a right password during the wait reveals nothing. Failures are
counted per typed name, existing or not, so counts say nothing about who has
an account.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ticker.store.desk import DeskStore

__all__ = ["LIMITS", "Attempt", "Limit", "record_failure", "record_success", "wait_seconds"]


@dataclass(frozen=True)
class Limit:
    kind: str  # part of the Redis key: {p}throttle:<kind>:<value>
    failures: int
    window: int  # seconds, from the first failure


DEVICE = Limit("device", 5, 5 * 60)
ACCOUNT_ADDRESS = Limit("acct-addr", 5, 5 * 60)
ADDRESS = Limit("addr", 20, 15 * 60)
ACCOUNT = Limit("acct", 50, 15 * 60)
LIMITS = (DEVICE, ACCOUNT_ADDRESS, ADDRESS, ACCOUNT)


def account_key(name: str) -> str:
    # A digest: the typed name is the client's, of any length and content.
    return hashlib.sha256(name.strip().casefold().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Attempt:
    """One login attempt: the typed account, the client's address, and its device id
    for that account (from a valid device cookie), if it has one."""

    name: str
    address: str
    device: str | None = None

    def counters(self, *, known: bool) -> list[tuple[Limit, str]]:
        """The counters that apply: a known device's own, or an unknown client's three."""
        if known and self.device:
            return [(DEVICE, self.device)]
        account = account_key(self.name)
        return [
            (ACCOUNT_ADDRESS, f"{account}:{self.address}"),
            (ADDRESS, self.address),
            (ACCOUNT, account),
        ]


async def _known(desk: DeskStore, attempt: Attempt) -> bool:
    """A device that has used up its own failures is an unknown client until its
    window ends: a stolen device cookie buys 5 guesses, not a way around the limits."""
    if not attempt.device:
        return False
    failures, _ = await desk.failures(DEVICE.kind, attempt.device)
    return failures < DEVICE.failures


async def wait_seconds(desk: DeskStore, attempt: Attempt) -> int:
    """0 when the attempt may proceed; otherwise the seconds until it may."""
    wait = 0
    for limit, value in attempt.counters(known=await _known(desk, attempt)):
        failures, ttl = await desk.failures(limit.kind, value)
        if failures >= limit.failures:
            wait = max(wait, ttl or 1)
    return wait


async def record_failure(desk: DeskStore, attempt: Attempt) -> None:
    for limit, value in attempt.counters(known=await _known(desk, attempt)):
        await desk.add_failure(limit.kind, value, limit.window)


async def record_success(desk: DeskStore, attempt: Attempt) -> None:
    # This address knows the password and this device is the owner's again. The
    # address's own count and the account's count from unknown clients stay: one
    # good password must not reset a spray or a distributed guess.
    account = account_key(attempt.name)
    await desk.clear_failures(ACCOUNT_ADDRESS.kind, f"{account}:{attempt.address}")
    if attempt.device:
        await desk.clear_failures(DEVICE.kind, attempt.device)
