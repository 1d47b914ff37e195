"""Where the web assets live (`web/`: widget, desk, templates), and the Jinja2 loader.

`web/` sits beside the package in the source tree (the layout in DEVELOPERS.md);
`pip install -e .` and the container image both run from that tree.
"""

from __future__ import annotations

from pathlib import Path

from starlette.templating import Jinja2Templates

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
TEMPLATES_DIR = WEB_DIR / "templates"

# Autoescaping is on for .html templates: item text is data, never markup.
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
