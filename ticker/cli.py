"""The `ticker` command: serve, channel, token, user, post, tail (docs/api.md, "Command line").

This module parses the command line and runs the command; `ticker serve` itself lives in
`ticker/server.py`, the store's operations in `ticker/store/`. Every command exits 0 on
success and 1 with a one-line message on stderr otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from ticker import __version__, publishing, server
from ticker.auth import hash_password
from ticker.config import ConfigError, Settings
from ticker.desk.passwords import WeakPassword, check_new_password
from ticker.model import (
    PRIORITIES,
    ROLES,
    Channel,
    FieldError,
    ItemInput,
    ValidationError,
    check_account_name,
    rfc3339,
    utc_now,
)
from ticker.store import Store, UserRecord
from ticker.store.desk import DeskStore


class CliError(Exception):
    """A failure the user can fix; printed as one line."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (CliError, ConfigError, server.StartError) as exc:
        print(f"ticker: {exc}", file=sys.stderr)
        return 1
    except RedisError as exc:
        print(f"ticker: cannot talk to Redis: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticker", description="A live breaking-news ticker.")
    parser.add_argument("--version", action="version", version=f"ticker {__version__}")
    parser.add_argument("--redis-url", help="Redis to use (default: $REDIS_URL, else embedded)")
    parser.add_argument("--data-dir", type=Path, help="folder of the embedded store")
    sub = parser.add_subparsers(metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the whole service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.set_defaults(run=cmd_serve)

    channel = sub.add_parser("channel", help="add or list channels").add_subparsers(
        metavar="ACTION", required=True
    )
    add = channel.add_parser("add", help="add a channel, or change an existing one")
    add.add_argument("id")
    add.add_argument("--title")
    add.add_argument("--lang", default=None)
    add.add_argument("--timezone", default=None)
    add.add_argument("--ttl", type=int, default=None, help="default item lifetime, in seconds")
    add.set_defaults(run=cmd_channel_add)
    channel.add_parser("list", help="list channels").set_defaults(run=cmd_channel_list)

    token = sub.add_parser("token", help="publishing tokens").add_subparsers(
        metavar="ACTION", required=True
    )
    create = token.add_parser("create", help="make a token; printed once, on the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--channel", action="append", default=[], help="limit to this channel")
    create.add_argument(
        "--admin", action="store_true", help="may also read the fleet's status (every channel)"
    )
    create.set_defaults(run=cmd_token_create)
    token.add_parser("list", help="list tokens (never their secret)").set_defaults(
        run=cmd_token_list
    )
    revoke = token.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    revoke.set_defaults(run=cmd_token_revoke)

    user = sub.add_parser("user", help="desk accounts").add_subparsers(
        metavar="ACTION", required=True
    )
    uadd = user.add_parser("add", help="add an account (password from stdin if not a terminal)")
    uadd.add_argument("name")
    uadd.add_argument("--role", required=True, choices=ROLES)
    uadd.add_argument("--channel", action="append", default=[], help="limit to this channel")
    uadd.set_defaults(run=cmd_user_add)
    user.add_parser("list", help="list accounts").set_defaults(run=cmd_user_list)
    for action, text in (
        ("disable", "disable an account and end its open sessions at once"),
        ("enable", "enable a disabled account"),
        ("passwd", "set a new password (stdin if not a terminal); ends open sessions"),
    ):
        sub_user = user.add_parser(action, help=text)
        sub_user.add_argument("name")
        sub_user.set_defaults(run=cmd_user_change, action=action)
    uchan = user.add_parser("channels", help="set the channels an editor may publish on")
    uchan.add_argument("name")
    uchan.add_argument("--channel", action="append", default=[], help="none: every channel")
    uchan.set_defaults(run=cmd_user_change, action="channels")

    post = sub.add_parser("post", help="publish an item (same path as the API)")
    post.add_argument("--channel", required=True)
    post.add_argument("--url")
    post.add_argument("--priority", choices=PRIORITIES)
    post.add_argument("--ttl", type=int, help="lifetime in seconds (default: the channel's)")
    post.add_argument("text")
    post.set_defaults(run=cmd_post)

    tail = sub.add_parser("tail", help="follow a server's event stream")
    tail.add_argument("--server", default="http://127.0.0.1:8000")
    tail.add_argument("--channel", action="append", default=[])
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.add_argument("--from", dest="from_id", help="resume after this event id")
    tail.set_defaults(run=cmd_tail)
    return parser


def _settings(args: argparse.Namespace, **flags: Any) -> Settings:
    return Settings.from_env(redis_url=args.redis_url, data_dir=args.data_dir, **flags)


@contextlib.contextmanager
def _redis(settings: Settings) -> Iterator[Settings]:
    """The settings of a one-off command, naming its Redis: REDIS_URL or the Sentinels,
    else the embedded server of `ticker serve` (started for the command's duration when
    it is not running)."""
    if settings.redis_url or settings.redis_sentinels:
        yield settings
        return
    from ticker.embedded import EmbeddedError, embedded_redis

    try:
        with embedded_redis(settings.data_dir) as url:
            yield dataclasses.replace(settings, redis_url=url)
    except EmbeddedError as exc:
        raise CliError(str(exc)) from None


def _with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[int | None]]) -> int:
    async def run(settings: Settings) -> int | None:
        async with server.connected_store(settings) as store:
            return await work(store)

    with _redis(_settings(args)) as settings:
        return int(asyncio.run(run(settings)) or 0)


# serve


def cmd_serve(args: argparse.Namespace) -> int:
    server.serve(_settings(args, host=args.host, port=args.port, workers=args.workers))
    return 0


# channel


def cmd_channel_add(args: argparse.Namespace) -> int:
    # The model's checks of what was given (the defaults pass them), before Redis is asked.
    default = Channel(id=args.id, title=args.id)
    try:
        given = Channel.parse(
            id=args.id,
            title=args.title or default.title,
            lang=args.lang or default.lang,
            timezone=args.timezone or default.timezone,
            default_ttl_seconds=default.default_ttl_seconds if args.ttl is None else args.ttl,
        )
    except ValidationError as exc:
        raise CliError("; ".join(f"channel {e.field} {e.message}" for e in exc.errors)) from None

    async def work(store: Store) -> None:
        old = await store.get_channel(args.id)
        base = old or default
        channel = Channel(
            id=args.id,
            title=given.title if args.title else base.title,
            lang=args.lang or base.lang,
            timezone=args.timezone or base.timezone,
            default_ttl_seconds=args.ttl or base.default_ttl_seconds,
        )
        await store.save_channel(channel, actor="cli")
        described = json.dumps(channel.to_json(), ensure_ascii=False)
        print(f"{'Changed' if old else 'Added'} channel {described}")

    return _with_store(args, work)


def cmd_channel_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> None:
        for c in await store.channels():
            print(f"{c.id}\t{c.title}\t{c.lang}\t{c.dir}\t{c.timezone}\t{c.default_ttl_seconds}s")

    return _with_store(args, work)


# token


def _account_name(name: str, kind: str) -> None:
    try:
        check_account_name(name)
    except FieldError as exc:
        raise CliError(f"a {kind} name {exc.message}") from None


def cmd_token_create(args: argparse.Namespace) -> int:
    _account_name(args.name, "token")

    async def work(store: Store) -> None:
        if args.admin and args.channel:
            raise CliError("an --admin token covers every channel; leave out --channel")
        for channel in args.channel:
            if await store.get_channel(channel) is None:
                raise CliError(f"there is no channel '{channel}' (see 'ticker channel list')")
        audit: dict[str, object] = {"action": "create", "channels": sorted(args.channel)}
        if args.admin:
            audit["admin"] = True
        try:
            token = await store.create_token(
                args.name, sorted(set(args.channel)), _now(), admin=args.admin
            )
            await DeskStore(store).record("token", "cli", args.name, audit)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        scope = ", ".join(args.channel) if args.channel else "every channel"
        if args.admin:
            scope += " and the fleet's status"
        print(f"Token '{args.name}' for {scope}. It is shown only now; keep it secret:")
        print(token)

    return _with_store(args, work)


def cmd_token_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> None:
        for t in await store.list_tokens():
            admin = "\tadmin" if t.admin else ""
            print(f"{t.name}\t{','.join(t.channels) or '*'}\t{t.created_at}{admin}")

    return _with_store(args, work)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    async def work(store: Store) -> None:
        if not await store.revoke_token(args.name):
            raise CliError(f"there is no token named '{args.name}'")
        await DeskStore(store).record("token", "cli", args.name, {"action": "revoke"})
        print(f"Revoked token '{args.name}'.")

    return _with_store(args, work)


# user


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_new_password(password)
    except WeakPassword as exc:
        raise CliError(str(exc)) from None
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    _account_name(args.name, "user")
    password = _read_password()

    async def work(store: Store) -> None:
        if await store.get_user(args.name) is not None:
            raise CliError(f"there is already a user '{args.name}'")
        for channel in args.channel:
            if await store.get_channel(channel) is None:
                raise CliError(f"there is no channel '{channel}' (see 'ticker channel list')")
        channels = sorted(set(args.channel))
        await store.save_user(
            UserRecord(args.name, args.role, hash_password(password), channels, created_at=_now()),
            actor="cli",
            audit={"action": "add", "role": args.role, "channels": channels},
        )
        print(f"Added {args.role} '{args.name}'.")

    return _with_store(args, work)


def cmd_user_change(args: argparse.Namespace) -> int:
    """disable / enable / passwd / channels: one save, recorded in the audit as the CLI's;
    disabling and a new password end the user's open desk sessions in the same step."""
    password = _read_password() if args.action == "passwd" else None

    async def work(store: Store) -> None:
        user = await store.get_user(args.name)
        if user is None:
            raise CliError(f"there is no user '{args.name}' (see 'ticker user list')")
        for channel in getattr(args, "channel", []):
            if await store.get_channel(channel) is None:
                raise CliError(f"there is no channel '{channel}' (see 'ticker channel list')")
        changes: dict[str, Any] = {}
        audit: dict[str, Any] = {"action": args.action}
        if args.action in ("disable", "enable"):
            changes["disabled"] = args.action == "disable"
        elif args.action == "passwd":
            changes["password_hash"] = hash_password(password or "")
        else:
            changes["channels"] = audit["channels"] = sorted(set(args.channel))
        ended = await store.save_user(
            dataclasses.replace(user, **changes),
            end_sessions=args.action in ("disable", "passwd"),
            actor="cli",
            audit=audit,
        )
        note = f"; ended {ended} open session(s)" if ended else ""
        print(f"User '{args.name}': {args.action} done{note}.")

    return _with_store(args, work)


def cmd_user_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> None:
        for u in await store.list_users():
            state = "disabled" if u.disabled else "active"
            print(f"{u.name}\t{u.role}\t{','.join(u.channels) or '*'}\t{state}")

    return _with_store(args, work)


# post and tail


def cmd_post(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"text": args.text}
    if args.url is not None:
        body["url"] = args.url
    if args.priority is not None:
        body["priority"] = args.priority
    if args.ttl is not None:
        body["ttl_seconds"] = args.ttl
    try:
        inp = ItemInput.parse(body, partial=False)
    except ValidationError as exc:
        raise CliError("; ".join(f"{e.field} {e.message}" for e in exc.errors)) from None

    async def work(store: Store) -> None:
        channel = await store.get_channel(args.channel)
        if channel is None:
            raise CliError(f"there is no channel '{args.channel}' (see 'ticker channel list')")
        outcome = await publishing.publish(store, channel, inp, actor="cli")
        print(json.dumps(outcome.item.to_json(), ensure_ascii=False))

    return _with_store(args, work)


def cmd_tail(args: argparse.Namespace) -> int:
    from ticker.tail import run_tail

    return run_tail(args.server.rstrip("/"), args.channel, args.json, args.from_id)


def _now() -> str:
    return rfc3339(utc_now())


if __name__ == "__main__":
    sys.exit(main())
