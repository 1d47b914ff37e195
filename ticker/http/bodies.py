"""Request bodies read whole, with a size cap: the API's JSON and the desk's forms.

The cap is checked against Content-Length first (a cheap early no) and again while
reading, so that a lying or missing Content-Length cannot get more through. A
Content-Length that is not ASCII digits is no promise at all: only the reading counts.
"""

from __future__ import annotations

from starlette.requests import Request

from ticker.model import ascii_digits

__all__ = ["BodyTooLarge", "read_body"]


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or BodyTooLarge as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if ascii_digits(declared) and (len(declared) > 9 or int(declared) > limit):
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)
