"""The dashboard's evaluation and LR-finder views in a real browser (chromium via Playwright)
on real runs: a CNN on the bundled digits images, an LR range test, and a paced classifier
that trains while the page watches.

- evaluation: the heat map's cells hold the artifact's counts, the title its accuracy; the 16
  dev images are drawn to canvases pixel for pixel, wrong predictions marked; a cell's hover
  shows its count; the view fetches each new evaluation while the run trains, and nothing
  after it ends;
- LR finder: the title names the model, the suggestion is marked at the artifact's value with
  its rule named, the y axis ends below the blow-up, a point's hover shows its lr;
- both languages (switched on the page: the views re-draw), no text cut off or overlapping,
  no console error or CSP violation.
Screenshots of each view in each language go to test-artifacts/views-*.png.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import learnsys

from .browser_checks import CHART_TEXTS, text_problems, watch_console

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (.ci/run installs it)", allow_module_level=True)

CSP_WATCH = "document.addEventListener('securitypolicyviolation', (e) => " \
            "(window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.sample}`));"
EN = {"confusion": "Confusion matrix", "accuracy": "accuracy", "samples": "Dev samples", "lr_find": "LR finder · ",
      "rule": "steepest descent", "suggested": "suggested"}
ZH = {"confusion": "混淆矩阵", "accuracy": "准确率", "samples": "验证集样本", "lr_find": "学习率搜索 · ",
      "rule": "最陡下降", "suggested": "建议"}
CHART = "(sel) => echarts.getInstanceByDom(document.querySelector(sel))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from learnsys.ui.launch import start_dashboard
    from playwright.sync_api import sync_playwright

    runs = tmp_path_factory.mktemp("views") / "runs"
    learnsys.fit("cnn:8", "digits-images", loss="cross-entropy", dev=0.2, epochs=3, batch_size=128, runs_dir=runs,
                 run_id="digits", quiet=True)
    learnsys.fit("cnn:4", "synthetic-images", data_args={"channels": 3, "height": 12, "width": 10, "size": 300,
                 "classes": 3}, loss="cross-entropy", dev=0.2, epochs=2, runs_dir=runs, run_id="rgb", quiet=True)
    _name_classes(runs, "rgb", ["cat", "dog", "owl"])
    finder = learnsys.lr_find("mlp:16", "synthetic-linear", batch_size=32, runs_dir=runs)
    port = _free_port()
    dash = start_dashboard(str(runs), port=port)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
    try:
        yield {"runs": runs, "url": f"http://127.0.0.1:{port}/", "browser": browser, "finder": finder.run_id}
    finally:
        browser.close()
        pw.stop()
        dash.close()


def _name_classes(runs: Path, run_id: str, names: list[str]) -> None:
    """The run's evaluation with class names, as an artifact that carries them has."""
    from learnsys.store import STORE_FILENAME, RunStore

    store = RunStore(runs / STORE_FILENAME)
    try:
        store.put_artifact(run_id, "evaluation", {**store.artifact(run_id, "evaluation"), "classes": names})
    finally:
        store.close()


@pytest.fixture
def page(env):
    context = env["browser"].new_context(viewport={"width": 1280, "height": 1400}, locale="en-US")
    context.add_init_script(CSP_WATCH)
    p = context.new_page()
    p.errors = watch_console(p)
    yield p
    csp = p.evaluate("window.__csp || []")
    context.close()
    assert not p.errors and not csp, (p.errors, csp)


def _artifact(env, run_id: str, name: str) -> dict:
    with urllib.request.urlopen(f"{env['url']}api/runs/{run_id}/artifacts/{name}") as r:
        return json.loads(r.read())


def _open(page, env, run_id: str, view: str) -> None:
    page.goto(env["url"] + "#run=" + run_id)
    page.wait_for_selector(f"[data-artifact={view}] .view-plot canvas", timeout=20_000)
    page.wait_for_timeout(200)  # ECharts lays out on the next frames
    assert view in [c["where"] for c in page.evaluate(CHART_TEXTS)]  # text_problems checks this view's chart


def _shot(page, view: str, lang: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.query_selector(f"[data-artifact={view}]").screenshot(path=str(ARTIFACTS / f"views-{view}-{lang}.png"))


def _switch(page, lang: str) -> None:
    page.select_option("#lang", lang)
    page.wait_for_timeout(200)


def _hover(page, sel: str, point) -> str:
    """Move the mouse onto `point` (data coordinates) of the chart in `sel`; the tooltip's text."""
    page.query_selector(sel).scroll_into_view_if_needed()
    xy = page.evaluate(f"([sel, p]) => ({CHART})(sel).convertToPixel({{seriesIndex: 0}}, p)", [sel, point])
    box = page.query_selector(sel).bounding_box()
    page.mouse.move(box["x"] + xy[0], box["y"] + xy[1])
    page.wait_for_selector(f"{sel} .learnsys-tooltip", state="visible", timeout=3_000)
    text = page.inner_text(f"{sel} .learnsys-tooltip")
    page.mouse.move(0, 0)
    return text


def test_a_redraw_keeps_the_hovered_cells_tooltip(page, env):
    """A new evaluation redraws the view while the run trains (here: a language change, the same
    path): the cell under the mouse keeps its tooltip, in the new language."""
    art = _artifact(env, "digits", "evaluation")
    _open(page, env, "digits", "evaluation")
    sel = "[data-artifact=evaluation] .view-plot"
    cells = page.evaluate(f"(sel) => ({CHART})(sel).getOption().series[0].data.map((d) => d.value)", sel)
    j, i, n = max(cells, key=lambda c: c[2])
    page.query_selector(sel).scroll_into_view_if_needed()
    xy = page.evaluate(f"([sel, p]) => ({CHART})(sel).convertToPixel({{seriesIndex: 0}}, p)", [sel, [j, i]])
    box = page.query_selector(sel).bounding_box()
    page.mouse.move(box["x"] + xy[0], box["y"] + xy[1])
    page.wait_for_selector(f"{sel} .learnsys-tooltip", state="visible", timeout=3_000)
    assert "true class" in page.inner_text(f"{sel} .learnsys-tooltip")
    _switch(page, "zh")                                 # every mounted view is drawn again
    page.wait_for_selector(f"{sel} .learnsys-tooltip", state="visible", timeout=3_000)
    text = page.inner_text(f"{sel} .learnsys-tooltip")
    assert "真实类别" in text and str(n) in text and len(art["confusion"]) == 10, text


def test_evaluation_view_draws_the_matrix_and_the_samples_in_both_languages(page, env):
    art = _artifact(env, "digits", "evaluation")
    samples = art["samples"]
    _open(page, env, "digits", "evaluation")
    sel = "[data-artifact=evaluation] .view-plot"
    for lang, words in (("en", EN), ("zh", ZH)):
        if lang == "zh":
            _switch(page, "zh")
        cells = page.evaluate(f"(sel) => ({CHART})(sel).getOption().series[0].data.map((d) => d.value)", sel)
        assert sorted(map(tuple, cells)) == sorted((j, i, n) for i, row in enumerate(art["confusion"])
                                                   for j, n in enumerate(row)), lang
        title = page.inner_text("[data-artifact=evaluation] .view-title")
        acc = page.evaluate("(a) => learnsysFormat.num(a * 100, 4)", art["metrics"]["dev/accuracy"])
        assert words["confusion"] in title and f"{words['accuracy']} {acc}%" in title, title
        assert words["samples"] in page.inner_text("[data-artifact=evaluation]")
        figs = page.query_selector_all("[data-artifact=evaluation] .sample")
        assert len(figs) == 16 == len(page.query_selector_all("[data-artifact=evaluation] .sample canvas"))
        wrong = [t != p for t, p in zip(samples["true"], samples["pred"])]
        assert [("wrong" in f.get_attribute("class")) for f in figs] == wrong and any(wrong) and not all(wrong)
        assert not text_problems(page), text_problems(page)
        _shot(page, "evaluation", lang)
        # the busiest cell: its count in the tooltip
        j, i, n = max(cells, key=lambda c: c[2])
        assert str(n) in _hover(page, sel, [j, i])
    # the first image, pixel for pixel: gray, scaled by all samples' smallest and largest value
    c, h, w = samples["shape"]
    pixels = page.evaluate("""() => { const c = document.querySelector('[data-artifact=evaluation] .sample canvas');
        return [c.width, c.height, [...c.getContext('2d').getImageData(0, 0, c.width, c.height).data]]; }""")
    flat = [v for img in samples["images"] for v in img]
    lo, hi = min(flat), max(flat)
    assert (c, pixels[0], pixels[1]) == (1, w, h)
    assert pixels[2][0::4] == [round(255 * (v - lo) / (hi - lo)) for v in samples["images"][0]] == pixels[2][1::4]


def test_rgb_samples_are_drawn_channel_by_channel_and_classes_by_name(page, env):
    art = _artifact(env, "rgb", "evaluation")
    samples = art["samples"]
    c, h, w = samples["shape"]
    _open(page, env, "rgb", "evaluation")
    pixels = page.evaluate("""() => { const c = document.querySelector('[data-artifact=evaluation] .sample canvas.rgb');
        return [c.width, c.height, [...c.getContext('2d').getImageData(0, 0, c.width, c.height).data]]; }""")
    flat = [v for img in samples["images"] for v in img]
    lo, hi = min(flat), max(flat)
    first = samples["images"][0]  # (C, H, W) flattened
    assert (c, pixels[0], pixels[1]) == (3, w, h)
    for channel in range(3):
        assert pixels[2][channel::4] == [round(255 * (v - lo) / (hi - lo)) for v in first[channel * h * w:(channel + 1) * h * w]]
    names = ["cat", "dog", "owl"]
    axes = page.evaluate(f"(sel) => {{ const o = ({CHART})(sel).getOption(); return [o.xAxis[0].data, o.yAxis[0].data]; }}",
                         "[data-artifact=evaluation] .view-plot")
    assert axes == [names, names]
    first_caption = page.inner_text("[data-artifact=evaluation] .sample figcaption")
    assert f"true {names[samples['true'][0]]}" in first_caption and f"predicted {names[samples['pred'][0]]}" in first_caption
    assert not text_problems(page), text_problems(page)


def test_lr_find_view_marks_the_suggestion_and_bounds_the_blow_up(page, env):
    art = _artifact(env, env["finder"], "lr_find")
    _open(page, env, env["finder"], "lr_find")
    sel = "[data-artifact=lr_find] .view-plot"
    for lang, words in (("en", EN), ("zh", ZH)):
        if lang == "zh":
            _switch(page, "zh")
        page.wait_for_function("(t) => document.querySelector('[data-artifact=lr_find] .view-head')"
                               ".textContent.includes(t)", arg=words["lr_find"] + "mlp:16", timeout=5_000)
        option = page.evaluate(f"(sel) => (({CHART})(sel).getOption())", sel)
        option = {"x": option["xAxis"][0], "y": option["yAxis"][0], "mark": option["series"][1]["markLine"]["data"]}
        assert option["x"]["type"] == "log" and option["mark"][0]["xAxis"] == art["suggestion"]
        shown = page.evaluate("(v) => learnsysFormat.num(v, 4)", art["suggestion"])
        texts = [b["text"] for c in page.evaluate("""(sel) => [learnsysFormat.textBoxes(echarts.getInstanceByDom(
            document.querySelector(sel)))]""", sel) for b in c]
        assert f"{words['suggested']} {shown}" in texts, texts
        assert words["rule"] in page.inner_text("[data-artifact=lr_find] .hint")
        y = option["y"]  # the smoothed curve in view up to its last point, the raw blow-up cut off
        assert all(y["min"] < v < y["max"] for v in art["smoothed"][:-1]) and y["max"] < max(art["losses"]), y
        assert not text_problems(page), text_problems(page)
        _shot(page, "lr_find", lang)
        k = len(art["lrs"]) // 2
        assert page.evaluate("(v) => learnsysFormat.num(v, 4)", art["lrs"][k]) in _hover(
            page, sel, [art["lrs"][k], art["smoothed"][k]])


def test_evaluation_view_follows_a_paced_run_and_stops_when_it_ends(page, env):
    train = subprocess.Popen(
        [sys.executable, "-m", "learnsys", "train", "--model", "mlp:32", "--data", "digits", "--loss", "cross-entropy",
         "--dev", "0.2", "--steps", "150", "--pace", "25", "--eval-every", "15", "--no-ui", "--quiet",
         "--runs-dir", str(env["runs"]), "--run-id", "live"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (env["runs"] / "live").exists():
            time.sleep(0.2)
        page.goto(env["url"] + "#run=live")
        page.wait_for_selector("[data-artifact=evaluation] .view-plot canvas", timeout=20_000)
        steps = [int(page.get_attribute("[data-artifact=evaluation]", "data-step"))]
        while train.poll() is None and time.monotonic() < deadline:
            step = int(page.get_attribute("[data-artifact=evaluation]", "data-step") or 0)
            if step != steps[-1]:
                steps.append(step)
            time.sleep(0.1)
        assert train.wait(30) == 0, train.stdout.read().decode()
    finally:
        if train.poll() is None:
            train.kill()
    final = _artifact(env, "live", "evaluation")
    page.wait_for_function("(s) => document.querySelector('[data-artifact=evaluation]').dataset.step === String(s)",
                           arg=final["step"], timeout=5_000)
    print("evaluation steps drawn while training:", steps)
    assert len(steps) >= 3 and steps == sorted(steps), steps  # new evaluations drawn while it trained
    cells = page.evaluate("() => echarts.getInstanceByDom(document.querySelector('[data-artifact=evaluation] "
                          ".view-plot')).getOption().series[0].data.map((d) => d.value[2])")
    assert cells == [n for row in final["confusion"] for n in row]
    assert not page.query_selector_all("[data-artifact=evaluation] .sample")  # flat rows: no images
    page.wait_for_function("() => document.querySelector('#run-status').dataset.status === 'finished'", timeout=10_000)
    fetched = page.evaluate("() => learnsysViewKit.debug.fetches.evaluation")
    page.wait_for_timeout(2500)
    assert page.evaluate("() => learnsysViewKit.debug.fetches.evaluation") == fetched  # none after the end
