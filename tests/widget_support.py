"""For the widget's browser tests: a host site on another origin than the ticker (a tiny
HTTP server on its own port, serving pages under a strict CSP), and readers of the widget's
shadow DOM."""

from __future__ import annotations

import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port

HOST_CSS = b"""
body { margin: 0; background: #f3f3f5; color: #16181d;
  font: 16px/1.7 "Noto Naskh Arabic", "Noto Sans Arabic", Tahoma, sans-serif; }
.top { padding: 10px 16px; background: #fff; border-bottom: 1px solid #e3e3e8; }
.page { display: grid; grid-template-columns: minmax(0, 1fr) 360px; gap: 24px;
  max-width: 1180px; margin: 0 auto; padding: 24px; }
main { min-height: 320px; padding: 8px 24px; border-radius: 8px; background: #fff; }
body.dark { background: #0c0e12; color: #e9e9ec; }
body.dark main, body.dark .top { background: #17191e; border-color: #30333b; }
@media (max-width: 700px) { .page { grid-template-columns: minmax(0, 1fr); padding: 12px; } }
"""

ARTICLE = (
    "<main><h1>صفحة موقع آخر</h1>"
    "<p>هذه الصفحة على أصل (origin) غير أصل الخادم، وتحت سياسة أمان محتوى صارمة.</p></main>"
)


def strict_csp(ticker: str) -> str:
    """What a careful host page allows: scripts and connections to the ticker, its own styles."""
    return (
        f"default-src 'none'; script-src {ticker}; connect-src {ticker}; style-src 'self'; "
        "base-uri 'none'"
    )


class HostSite:
    """Pages served from http://127.0.0.1:<its own port>: another origin than the ticker."""

    def __init__(self) -> None:
        self.port = free_port()
        self.pages: dict[str, tuple[bytes, dict[str, str]]] = {"/host.css": (HOST_CSS, {})}
        self._names = itertools.count()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = site.pages.get(self.path)
                if page is None:
                    self.send_error(404)
                    return
                body, headers = page
                self.send_response(200)
                css = self.path.endswith(".css")
                self.send_header("Content-Type", f"text/{'css' if css else 'html'}; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def page(
        self,
        ticker: str,
        widget: str,
        *,
        layout: str = "side",
        csp: bool = True,
        body_class: str = "",
    ) -> str:
        """A page that loads the ticker's widget.js with one tag and holds `widget` (HTML),
        in the sidebar (`side`) or across the top (`top`)."""
        if layout == "top":
            content = f'<div class="top">{widget}</div><div class="page">{ARTICLE}</div>'
        else:
            content = f'<div class="page">{ARTICLE}<aside>{widget}</aside></div>'
        html = f"""<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>موقع مضيف</title><link rel="stylesheet" href="/host.css">
<script src="{ticker}/widget.js" async></script>
</head><body class="{body_class}">{content}</body></html>"""
        headers = {"Content-Security-Policy": strict_csp(ticker)} if csp else {}
        path = f"/page-{next(self._names)}"
        self.pages[path] = (html.encode(), headers)
        return self.base + path


# Readers of a page's widgets (Playwright `page.evaluate` bodies).

ROWS_JS = """(index) => {
  const el = document.querySelectorAll('breaking-ticker')[index || 0];
  return [...el.shadowRoot.querySelectorAll('li')].map((li) => ({
    id: li.dataset.id,
    text: li.querySelector('bdi').textContent,
    time: li.querySelector('time').textContent,
    fresh: li.classList.contains('new'),
    corrected: !!li.querySelector('[part~=corrected]'),
    href: li.querySelector('a')?.getAttribute('href') ?? null,
    rel: li.querySelector('a')?.rel ?? null,
    target: li.querySelector('a')?.target ?? null,
  }));
}"""

# Collects Content-Security-Policy violations from the start (init scripts are not bound by
# the page's CSP), and a flag any injected script would set.
WATCH_JS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""

# Contrast ratio (WCAG 2.x) of an element's text against the first opaque background
# behind it, walking out of the shadow root to the host page if needed.
CONTRAST_JS = """(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let node = el, bg = null;
  while (node && !bg) {
    if (node.nodeType === 1) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || c[3] === 1) bg = c.slice(0, 3);
    }
    node = node.parentNode || node.host;
  }
  const fg = lum(rgb(getComputedStyle(el).color));
  const back = lum(bg || [255, 255, 255]);
  return (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05);
}"""
