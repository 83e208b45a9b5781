"""What the browser tests check on every chart of the page: no text cut off or on top of
another (axis labels and names, legends, event labels), and hovering leaves no console error
or CSP violation and shows a styled tooltip. Used by test_ui_*_browser.py and
test_lectures_browser.py."""

from __future__ import annotations

# Every chart on the page that is shown: where it is, its size, and each text ECharts drew
# there with its box (format.js textBoxes, read from the canvas renderer's display list).
CHART_TEXTS = """() => [...document.querySelectorAll('.plot, .lecture-plot, .view-plot')].filter((d) => d.offsetParent).map((d) => {
  const c = echarts.getInstanceByDom(d); if (!c) return null;
  const fig = d.closest('[data-chart]') || d.closest('[data-artifact]');
  return { where: fig ? (fig.dataset.chart || fig.dataset.artifact) : '?', width: c.getWidth(), height: c.getHeight(),
           texts: learnsysFormat.textBoxes(c) };
}).filter(Boolean)"""


def text_problems(page) -> list:
    """Texts that stick out of their chart or overlap another text of the same chart."""
    out = []
    for c in page.evaluate(CHART_TEXTS):
        texts = c["texts"]
        for b in texts:
            if b["x"] < -0.5 or b["y"] < -0.5 or b["x"] + b["width"] > c["width"] + 0.5 or b["y"] + b["height"] > c["height"] + 0.5:
                out.append(f"{c['where']}: {b['kind']} {b['text']!r} sticks out of the {c['width']}x{c['height']} chart at "
                           f"({b['x']:.0f}, {b['y']:.0f}, {b['width']:.0f}x{b['height']:.0f})")
        for i, a in enumerate(texts):
            for b in texts[i + 1:]:
                if (a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1
                        and a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1):
                    out.append(f"{c['where']}: {a['kind']} {a['text']!r} overlaps {b['kind']} {b['text']!r}")
    return out


def chart_count(page) -> int:
    return len(page.evaluate(CHART_TEXTS))


def hover_every_chart(page, points=(0.3, 0.7)) -> list[str]:
    """Move the mouse across every shown chart; return the texts of the tooltips seen: the
    hovered chart's own (ECharts puts it inside the plot), else the page's first. (Only the
    page's first was flaky: a linked chart scrolled or laid out elsewhere may hide its own.)"""
    seen = []
    for plot in page.query_selector_all(".plot, .lecture-plot, .view-plot"):
        if not plot.is_visible():
            continue
        plot.scroll_into_view_if_needed()
        box = plot.bounding_box()
        for fx in points:
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * 0.55)
            page.wait_for_timeout(60)
            own = plot.query_selector(".learnsys-tooltip")
            tip = own if own and own.is_visible() else page.query_selector(".learnsys-tooltip")
            if tip and tip.is_visible():
                seen.append(tip.inner_text())
    page.mouse.move(0, 0)
    return seen


def watch_console(page) -> list[str]:
    """Collect console errors and warnings, page errors and CSP violations of `page`."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    return errors
