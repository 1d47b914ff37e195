"""The box drawn on the server: the same markup and classes as the widget's shadow root
(web/widget/breaking-ticker.js), so that a page without JavaScript, and the moment before
the script runs, show what the widget will."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ticker.embed.options import Options, find_zone
from ticker.model import Channel, parse_rfc3339

TEXT = {
    "ar": {"label": "عاجل", "corrected": "تصحيح", "empty": "لا أخبار عاجلة في الوقت الحالي"},
    "en": {"label": "Breaking", "corrected": "Corrected", "empty": "No breaking news right now"},
}
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@dataclass(frozen=True)
class Row:
    id: str
    text: str
    url: str | None
    priority: str
    created_at: str
    time: str
    corrected: bool


@dataclass(frozen=True)
class Box:
    mode: str
    theme: str
    lang: str
    dir: str
    label: str
    text: dict[str, str]
    rows: list[Row] = field(default_factory=list)


def make_box(options: Options, channel: Channel, items: list[dict[str, Any]]) -> Box:
    lang = options.lang or channel.lang
    text = TEXT["ar" if lang.lower().startswith("ar") else "en"]
    zone = find_zone(options.timezone or channel.timezone) or ZoneInfo("UTC")
    rows = [
        Row(
            id=item["id"],
            text=item["text"],
            url=_safe_url(item.get("url")),
            priority=item.get("priority", "urgent"),
            created_at=item["created_at"],
            time=clock(item["created_at"], zone, text is TEXT["ar"], options),
            corrected=item.get("updated_at") != item["created_at"],
        )
        for item in items[: options.limit]
    ]
    return Box(
        mode=options.mode,
        theme=options.theme,
        lang=lang,
        dir=options.dir or channel.dir,
        label=options.label or text["label"],
        text=text,
        rows=rows,
    )


def clock(moment: str, zone: ZoneInfo, arabic: bool, options: Options) -> str:
    """`HH:MM` as the widget's Intl.DateTimeFormat writes it (without its U+200F marks)."""
    t = parse_rfc3339(moment).astimezone(zone)
    if options.hour_cycle == "h12":
        noon = t.hour >= 12
        suffix = ("م" if noon else "ص") if arabic else ("PM" if noon else "AM")
        text = f"{t.hour % 12 or 12:02d}:{t.minute:02d} {suffix}"
    else:
        text = f"{t.hour:02d}:{t.minute:02d}"
    return text.translate(ARABIC_INDIC) if options.digits == "arab" else text


def _safe_url(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None
