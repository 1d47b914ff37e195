"""Headers that several kinds of response share."""

from __future__ import annotations

__all__ = ["PUBLIC_HEADERS"]

# Public data (the API's reads, feeds, the widget's assets): any origin's scripts may read it.
PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*"}
