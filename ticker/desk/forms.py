"""HTML form bodies (application/x-www-form-urlencoded), read with a size cap.

The standard library parses them; the desk has no file uploads, so it needs
no multipart parser.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request

from ticker.desk.errors import DeskError
from ticker.desk.i18n import N_
from ticker.http import BodyTooLarge, read_body

FORM_LIMIT = 16 * 1024
FORM_FIELDS = 200

# A form's fields: the desk has no file uploads, so every value is text.
Form = ImmutableMultiDict[str, str]


async def read_form(request: Request) -> Form:
    try:
        body = await read_body(request, FORM_LIMIT)
    except BodyTooLarge:
        raise DeskError(413, N_("The form is too large (16 KiB at most).")) from None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and media != "application/x-www-form-urlencoded":
        raise DeskError(415, N_("The form could not be read."))
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise DeskError(400, N_("The form could not be read.")) from None
    return ImmutableMultiDict(pairs)
