"""Where the web assets live (`web/`: widget, desk, templates), and the Jinja2 loader.

In the repository `web/` sits at the top level, beside the package; the wheel ships it
inside the package as `ticker/web` (pyproject.toml, `force-include`). So an installed
package looks in its own folder first and a source checkout (an editable install, the
tests) falls back to the tree.
"""

from __future__ import annotations

from pathlib import Path

from starlette.templating import Jinja2Templates

__all__ = ["TEMPLATES_DIR", "WEB_DIR", "find_web_dir", "templates"]

_PACKAGE = Path(__file__).resolve().parent


def find_web_dir(package: Path = _PACKAGE) -> Path:
    """`web/` inside the installed package, else the source tree's, else a clear error."""
    for candidate in (package / "web", package.parent / "web"):
        if (candidate / "widget" / "breaking-ticker.js").is_file():
            return candidate
    raise RuntimeError(
        f"The ticker's web assets are missing: neither {package / 'web'} (an installed "
        f"wheel) nor {package.parent / 'web'} (a source checkout) holds widget/"
        "breaking-ticker.js. Reinstall the package from a wheel or an sdist built by "
        "its pyproject.toml."
    )


WEB_DIR = find_web_dir()
TEMPLATES_DIR = WEB_DIR / "templates"

# Autoescaping is on for .html templates: item text is data, never markup.
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
