"""Login throttling: too many failed logins for one user, or from one address, give
429 with Retry-After until the window ends; never a permanent lockout (issue 3).

Windows are fixed and start at the first failure, so a lock always ends on time.
The per-user window is short on purpose: anyone can type a user's name, so a long
per-user lock would let a stranger keep an editor out during breaking news. The
per-address limit is higher, for newsrooms behind one NAT address.
"""

from __future__ import annotations

from ticker.store.desk import DeskStore

USER_LIMIT = 5
USER_WINDOW = 5 * 60
ADDRESS_LIMIT = 20
ADDRESS_WINDOW = 15 * 60


def _user_key(name: str) -> str:
    return name.strip().casefold()


async def wait_seconds(desk: DeskStore, user: str, address: str) -> int:
    """0 when a login attempt may proceed; otherwise the seconds until it may."""
    user_failures, user_ttl = await desk.failures("user", _user_key(user))
    address_failures, address_ttl = await desk.failures("addr", address)
    wait = 0
    if user_failures >= USER_LIMIT:
        wait = max(wait, user_ttl or 1)
    if address_failures >= ADDRESS_LIMIT:
        wait = max(wait, address_ttl or 1)
    return wait


async def record_failure(desk: DeskStore, user: str, address: str) -> None:
    await desk.add_failure("user", _user_key(user), USER_WINDOW)
    await desk.add_failure("addr", address, ADDRESS_WINDOW)


async def record_success(desk: DeskStore, user: str) -> None:
    # The address keeps its count: one good password must not reset a spray.
    await desk.clear_failures("user", _user_key(user))
