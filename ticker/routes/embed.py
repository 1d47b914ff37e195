"""The widget and its pages: `/widget.js`, `/widget/{name}.css`, `/embed/{channels}`, `/demo`.

The widget's build is ticker/embed/assets.py, its options ticker/embed/options.py, the
box drawn on the server ticker/embed/render.py. docs/widget.md is the embedder's guide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ticker.assets import templates
from ticker.bidi import isolate_digits
from ticker.embed.assets import favicon, serve, style_url, styles, widget, widget_url
from ticker.embed.options import parse_options
from ticker.embed.render import make_box
from ticker.embed.state import find_channels, seed, snapshots
from ticker.model import CHANNEL_ID, Channel, newest_first
from ticker.problems import Problem
from ticker.routes.common import public_base
from ticker.services import services

# Our pages load nothing but our own script, stylesheets and stream (docs/design.md, invariant 6).
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'"
)
EMBED_HEADERS = {
    "Content-Security-Policy": f"{PAGE_POLICY}; frame-ancestors *",  # any site may frame it
    "Cache-Control": "public, max-age=10",
}
DEMO_HEADERS = {
    "Content-Security-Policy": f"{PAGE_POLICY}; frame-ancestors 'self'",
    "Cache-Control": "no-cache",
}
MAX_CHANNELS = 10
templates.env.filters["digits"] = isolate_digits  # digit groups left to right (ticker/bidi.py)
DEMO_CHANNELS = 12  # channels the demo offers to switch to


async def favicon_ico(request: Request) -> Response:
    # Browsers ask for /favicon.ico on every page of the origin: answer it, never a 404.
    return serve(favicon(), request, immutable=False)


async def widget_js(request: Request) -> Response:
    return serve(widget(), request, immutable=False)


async def widget_versioned(request: Request) -> Response:
    # An old version's URL (a page cached across a deploy) gets today's widget, briefly cached.
    current = widget()
    return serve(current, request, immutable=request.path_params["version"] == current.version)


async def stylesheet(request: Request) -> Response:
    asset = styles().get(request.path_params["name"])
    if asset is None:
        raise Problem(404, f"There is no stylesheet {request.url.path}.")
    return serve(asset, request, immutable=request.query_params.get("v") == asset.version)


def _missing(request: Request, channel_id: str) -> Response:
    return templates.TemplateResponse(
        request,
        "embed_missing.html",
        {"channel": channel_id, "css": {"embed": style_url("embed")}},
        status_code=404,
        headers=EMBED_HEADERS,
    )


async def embed_page(request: Request) -> Response:
    raw = request.path_params["channels"]
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids or not all(CHANNEL_ID.match(i) for i in ids):
        return _missing(request, raw)
    if len(ids) > MAX_CHANNELS:
        raise Problem(400, f"An embed shows at most {MAX_CHANNELS} channels.")
    options = parse_options(request.query_params)
    channels = await find_channels(request, ids)
    if channels is None:
        missing = [i for i in ids if services(request).fanout.channels.get(i) is None]
        return _missing(request, missing[0] if missing else raw)
    position, taken = await snapshots(request, ids)
    items = newest_first([item for s in taken for item in s["items"]])
    return templates.TemplateResponse(
        request,
        "embed.html",
        {
            "box": make_box(options, channels[0], items),
            "channel_ids": ",".join(ids),
            "title": " · ".join(c.title for c in channels),
            "attributes": options.attributes(),
            "state": seed(position, channels, taken),
            "widget_src": widget_url(),
            "css": {"widget": style_url("breaking-ticker"), "embed": style_url("embed")},
        },
        headers=EMBED_HEADERS,
    )


async def demo_page(request: Request) -> Response:
    svc = services(request)
    channels = {c.id: c for c in await svc.store.channels()}
    wanted = request.query_params.get("channel")
    if wanted is not None and wanted not in channels:
        return _missing(request, wanted)
    channel = channels.get(wanted or "main") or next(iter(channels.values()), None)
    options = parse_options(request.query_params)
    base = public_base(request)
    context: dict[str, Any] = {
        "base": base,
        "channel": channel,
        "options": options,
        "links": _demo_links(request.query_params, channel),
        "channel_links": _channel_links(request.query_params, list(channels.values())),
        "widget_src": widget_url(),
        "css": {"widget": style_url("breaking-ticker"), "demo": style_url("demo")},
    }
    if channel is not None:
        position, taken = await snapshots(request, [channel.id])
        items = taken[0]["items"]
        bar = replace(options, mode="marquee", limit=10)
        side = replace(options, mode="list", limit=8)
        context |= {
            "bar": make_box(bar, channel, items),
            "side": make_box(side, channel, items),
            "bar_attributes": bar.attributes(),
            "side_attributes": side.attributes(),
            "state": seed(position, [channel], taken),
            "empty": not items,
        }
    return templates.TemplateResponse(request, "demo.html", context, headers=DEMO_HEADERS)


def _demo_links(query: Mapping[str, str], channel: Channel | None) -> dict[str, str]:
    """Links that switch one option of the demo and keep the others."""
    current = {k: v for k, v in query.items() if k in ("channel", "theme", "digits", "hour-cycle")}

    def switch(name: str, value: str, default: str) -> str:
        params = {**current, name: value}
        if value == default:
            params.pop(name)
        return "/demo" + (f"?{urlencode(params)}" if params else "")

    return {
        "light": switch("theme", "light", "light"),
        "dark": switch("theme", "dark", "light"),
        "latn": switch("digits", "latn", "latn"),
        "arab": switch("digits", "arab", "latn"),
        "h23": switch("hour-cycle", "h23", "h23"),
        "h12": switch("hour-cycle", "h12", "h23"),
        "embed": f"/embed/{channel.id}" if channel else "",
    }


def _channel_links(query: Mapping[str, str], channels: list[Channel]) -> list[tuple[Channel, str]]:
    keep = {k: v for k, v in query.items() if k in ("theme", "digits", "hour-cycle")}
    return [(c, "/demo?" + urlencode({**keep, "channel": c.id})) for c in channels[:DEMO_CHANNELS]]


# Starlette's Route answers HEAD wherever it answers GET.
routes: list[BaseRoute] = [
    Route("/widget.js", widget_js),
    Route("/widget-{version}.js", widget_versioned),
    Route("/widget/{name}.css", stylesheet),
    Route("/embed/{channels}", embed_page),
    Route("/demo", demo_page),
    Route("/favicon.ico", favicon_ico),
]
