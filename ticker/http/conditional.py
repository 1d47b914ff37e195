"""Conditional GETs: may this request be answered `304 Not Modified`? (RFC 9110, 13.1)

One home for the rule that the API's snapshot, the feeds, the widget's assets, the live
page and the desk's static files follow. Starlette's `StaticFiles.is_not_modified` is the
model, with the differences RFC 9110 asks for: `*` matches inside a list too, a weak
validator (`W/"…"`) on either side compares by its opaque tag (If-None-Match uses the weak
comparison), and an If-None-Match header, even an empty one, silences If-Modified-Since.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["not_modified"]

# `*`, or an entity tag `"opaque"` / `W/"opaque"`. The opaque part may hold commas, so the
# list is read tag by tag, not split on commas; anything else in it is no tag and is skipped.
_LIST_MEMBER = re.compile(r'\*|(?:W/)?"[^"]*"')


def not_modified(
    request_headers: Mapping[str, str], etag: str, last_modified: datetime | None = None
) -> bool:
    """True when the copy the client names by its validators is the current one.

    `etag` is the response's ETag, strong or weak; `last_modified` (aware) the time of
    its last change, compared to the second as HTTP dates are. Only GET and HEAD are
    conditional like this, and only their routes call it.
    """
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        # 13.1.3: a recipient MUST ignore If-Modified-Since when If-None-Match is present.
        opaque = etag.removeprefix("W/")
        return any(
            member == "*" or member.removeprefix("W/") == opaque
            for member in _LIST_MEMBER.findall(if_none_match)
        )
    since = request_headers.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        since_time = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False  # not an HTTP-date: ignored (13.1.3)
    if since_time.tzinfo is None:
        since_time = since_time.replace(tzinfo=UTC)  # "-0000": UTC, source unknown
    # Not modified unless the last change, to the second, is later than the client's date.
    return int(last_modified.timestamp()) <= since_time.timestamp()
