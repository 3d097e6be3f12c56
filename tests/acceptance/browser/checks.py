"""What the browser tests need around Playwright: Debian's chromium, screenshots, accessibility checks."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Locator, Page

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parents[2] / "artifacts" / "screenshots"
_AXE = (HERE / "axe.min.js").read_text(encoding="utf-8")
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}

# Each DAG node's text against its own box: axe cannot see an SVG shape behind SVG text.
_SVG_CONTRAST = """
() => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  const luminance = (rgb) => {
    const [r, g, b] = rgb.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const ratio = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const low = [];
  document.querySelectorAll("#dag .node").forEach((node) => {
    const fill = getComputedStyle(node.querySelector("rect")).fill;
    node.querySelectorAll("text").forEach((text) => {
      const r = ratio(getComputedStyle(text).fill, fill);
      if (r < 4.5) low.push(node.dataset.step + ": " + text.textContent + " " + r.toFixed(2));
    });
  });
  return low;
}
"""


def chromium_path() -> str:
    """Debian's chromium (installed by .ci/run): Playwright drives it, nothing is downloaded."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed (apt-get install chromium; .ci/run does it)"
    return found


def screenshot(page: Page | Locator, name: str) -> Path:
    """Save the whole page (or one element of it) as artifacts/screenshots/<name>.png (CI keeps the folder)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if isinstance(page, Locator):
        page.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_problems(page: Page) -> list[str]:
    """axe-core's WCAG 2 A/AA violations on the page as it is now (labels, contrast, names, …), and any
    DAG node whose text is below 4.5:1 against its box."""
    # Evaluated rather than added as a <script>: the pages' Content-Security-Policy (kept on in these
    # tests, so that it is tested too) refuses inline scripts.
    page.evaluate(_AXE)
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', "
        "'wcag21aa']}})")
    problems = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                for v in result["violations"]]
    return problems + [f"DAG text contrast: {low}" for low in page.evaluate(_SVG_CONTRAST)]


def no_sideways_scroll(page: Page) -> bool:
    """The page fits its viewport's width (wide tables and the DAG scroll inside their own frames)."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
