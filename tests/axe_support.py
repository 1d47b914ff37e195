"""axe-core in Chromium: a page's WCAG 2.2 A and AA violations (tests/vendor/axe.min.js).

`install(context)` before opening pages: the script goes in as an init script, which the
DevTools protocol runs whatever the page's Content-Security-Policy says. Then
`violations(page)` runs axe on the whole document (open shadow roots included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

RUN_JS = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
  }));
}"""


def install(context: BrowserContext) -> None:
    context.add_init_script(path=str(AXE))


def violations(page: Page, tags: list[str] = WCAG_TAGS) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof axe === 'object'"):
        raise AssertionError("axe-core is not on the page: call axe_support.install(context) first")
    return page.evaluate(RUN_JS, tags)


def describe(found: list[dict[str, Any]]) -> str:
    """Violations as lines a person can act on."""
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines += [f"    {n['target']}: {n['summary']}" for n in v["nodes"][:5]]
    return "\n".join(lines)


def assert_accessible(page: Page, where: str) -> None:
    found = violations(page)
    assert not found, f"axe found {len(found)} violation(s) on {where}:\n{describe(found)}"
