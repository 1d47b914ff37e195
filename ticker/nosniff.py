"""`X-Content-Type-Options: nosniff` on every response of the app.

Without it a browser may sniff a JSON, problem+json or feed response whose text looks
like HTML or script and run it as such; with it, every response is only what its
Content-Type says. The stream's fast path (ticker/stream/fastpath.py) writes its own head and
sends the header there.

The same middleware answers a crash with a problem+json 500 (carrying the header)
instead of Starlette's plain-text one, then lets the error propagate to be logged.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticker.problems import Problem

HEADER = (b"x-content-type-options", b"nosniff")


class NoSniff:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_header(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if not any(name.lower() == HEADER[0] for name, _ in headers):
                    headers.append(HEADER)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        except Exception:
            if not started:
                crash = Problem(
                    500,
                    "Something went wrong on the server; it has been logged. Try again, and "
                    "if it keeps happening, tell the ticker's operators.",
                )
                await crash.response()(scope, receive, send_with_header)
            raise
