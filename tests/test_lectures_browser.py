"""The lecture views in a real browser (chromium via Playwright), on the dashboard page:
search curve / heat map / sortable table, the landscape with its path slider and live
updates, the graph stepped through the backward pass, module boxes that expand, zh/en.
Screenshots go to test-artifacts/lectures-*.png. `window.learnsysLectureDebug` exposes what
the views drew, so the assertions compare numbers, not pixels."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .browser_checks import hover_every_chart, text_problems
from .test_lectures_landscape import IDLE_MODEL

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (.ci/run installs it)", allow_module_level=True)

LIVE_STEPS = 120  # `train --pace 20`: six seconds of lecture 3 to watch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args) -> str:
    from learnsys.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(a) for a in args]) == 0
    return out.getvalue()


def _run_id(out: str) -> str:
    return json.loads(out)["run"]


def _store_old_plane(runs: Path) -> None:
    """A plane landscape as stored before its axes were u, v (named α, β), on a flat surface."""
    from learnsys.store import RunStore

    store = RunStore(runs / "learnsys.sqlite")
    store.create_run("oldplane", kind="train", spec={}, status="finished", model="mlp:4", data="lecture")
    axis = [-1.0, -0.5, 0.0, 0.5, 1.0]
    store.put_artifact("oldplane", "landscape", {
        "version": 1, "kind": "plane", "params": [], "loss": "mse", "n_parameters": 13,
        "axes": [{"name": "α", "label": "α (random direction 1)", "values": axis},
                 {"name": "β", "label": "β (random direction 2)", "values": axis}],
        "losses": [[0.25] * 5 for _ in axis], "path": {}, "run": "oldplane", "step": 3, "live": False})
    store.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    import learnsys
    from learnsys.ui.launch import start_dashboard
    from playwright.sync_api import sync_playwright

    runs = tmp_path_factory.mktemp("lectures") / "runs"
    ids = {
        "curve": _run_id(_cli("search", "--data", "lecture2", "--grid", "w=0:4:0.1", "--json", "--runs-dir", runs)),
        "heatmap": _run_id(_cli("search", "--model", "linear", "--grid", "w=0:4:0.1", "b=-2:2:0.1", "--json",
                                "--runs-dir", runs)),
        "table": _run_id(_cli("search", "--model", "poly:2", "--data", "lecture5", "--grid", "w1=-1:1",
                              "w2=0:3", "b=-1:1", "--samples", "500", "--json", "--runs-dir", runs)),
    }
    learnsys.fit("linear", "lecture", runs_dir=runs, run_id="lin", epochs=60, lr=0.05, quiet=True)
    _cli("landscape", "lin", "--resolution", "21", "--json", "--runs-dir", runs)
    learnsys.fit("poly:2", "lecture5", runs_dir=runs, run_id="poly", epochs=3, quiet=True,
                 init={"w1": 1.0, "w2": 1.0, "b": 1.0})
    _cli("graph", "poly", "--sample", "1", "--json", "--runs-dir", runs)
    learnsys.fit("mlp:" + ",".join(["3"] * 70), "synthetic-linear", runs_dir=runs, run_id="deep", epochs=1,
                 batch_size=500, quiet=True)
    _cli("graph", "deep", "--json", "--runs-dir", runs)
    learnsys.fit("linear-nobias", "lecture", runs_dir=runs, run_id="nobias", epochs=30, lr=0.25, guard="off",
                 quiet=True, init={"w": 1.0})                       # lecture 3's "lr too high": losses to 8e7
    idle = runs.parent / "idle.py"
    idle.write_text(IDLE_MODEL)
    _cli("train", "--model", f"{idle}:Idle", "--epochs", "3", "--run-id", "idle", "--no-ui", "--quiet", "--runs-dir", runs)
    _cli("landscape", "idle", "--params", "idle", "idle2", "--resolution", "9", "--json", "--runs-dir", runs)
    _store_old_plane(runs)
    port = _free_port()
    dash = start_dashboard(str(runs), port=port)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
    try:
        yield {"runs": runs, "port": port, "ids": ids, "browser": browser}
    finally:
        browser.close()
        pw.stop()
        dash.close()


@pytest.fixture
def page(env):
    page = env["browser"].new_page(viewport={"width": 1300, "height": 1600})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    yield page
    page.close()
    assert not errors, errors


def _open(page, env, run_id: str, view: str):
    page.goto("about:blank")  # a full load each time: no view state carried over from the last run
    page.goto(f"http://127.0.0.1:{env['port']}/#run={run_id}")
    page.wait_for_function("(v) => window.learnsysLectureDebug && window.learnsysLectureDebug.views[v]", arg=view,
                           timeout=20_000)
    page.wait_for_selector(f"[data-artifact={view}] canvas, [data-artifact={view}] table", timeout=10_000)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"lectures-{name}.png"), full_page=True)


def test_search_views(page, env):
    _open(page, env, env["ids"]["curve"], "search")
    assert page.evaluate("() => window.learnsysLectureDebug.views.search.kind") == "curve"
    assert text_problems(page) == [] and hover_every_chart(page)
    _shot(page, "search-curve")
    _open(page, env, env["ids"]["heatmap"], "search")
    assert page.evaluate("() => window.learnsysLectureDebug.views.search.kind") == "heatmap"
    assert text_problems(page) == [] and hover_every_chart(page)
    _open(page, env, env["ids"]["table"], "search")
    assert page.evaluate("() => window.learnsysLectureDebug.views.search.kind") == "table"
    first_col = "() => [...document.querySelectorAll('.lecture-table tbody tr')].map(r => Number(r.cells[1].textContent))"
    page.click(".lecture-table th[data-col=w1]")
    w1 = page.evaluate(first_col)
    assert len(w1) > 10 and w1 == sorted(w1)
    page.click(".lecture-table th[data-col=w1]")
    assert page.evaluate(first_col) == sorted(w1, reverse=True)
    cells = page.evaluate("() => [...document.querySelectorAll('.lecture-table tbody td')].map((c) => c.textContent)")
    assert not [c for c in cells if re.fullmatch(r"-?\d+\.\d*0", c)]  # 2.1, never 2.1000


def test_landscape_path_slider(page, env):
    _open(page, env, "lin", "landscape")
    info = page.evaluate("() => window.learnsysLectureDebug.views.landscape")
    assert info["kind"] == "exact" and info["pathPoints"] == 61 and info["pathShown"] == 61
    assert text_problems(page) == [] and hover_every_chart(page)
    page.fill(".lecture-slider input", "10")
    page.dispatch_event(".lecture-slider input", "input")
    assert page.evaluate("() => window.learnsysLectureDebug.views.landscape.pathShown") == 10
    # The end dot sits on the path's last drawn point; the start marker has a visible outline.
    series = page.evaluate("""() => { const c = echarts.getInstanceByDom(document.querySelector('[data-artifact=landscape] .lecture-plot'));
        return Object.fromEntries(c.getOption().series.map((s) => [s.id, s])); }""")
    assert series["end"]["data"] == [series["path"]["data"][-1]] and len(series["path"]["data"]) == 10
    assert series["end"]["symbol"] == "circle" and series["start"]["itemStyle"]["borderWidth"] > 0
    page.select_option("#lang", "zh")
    page.wait_for_function("() => document.querySelector('.lecture-slider output').textContent.trim() === '第 9 步'")
    assert text_problems(page) == [] and hover_every_chart(page)
    page.select_option("#lang", "en")
    _shot(page, "landscape")


def test_the_descent_is_drawn_live_during_a_paced_run(page, env):
    """`learnsys train --pace 20` (lecture 5's linear model, w and b): the page, open from the
    run's first steps, draws the loss surface as soon as the run writes it and the path
    gains points with the steps while the run trains; each path point is that step's (w, b)."""
    from learnsys.store import RunStore

    runs = env["runs"]
    train = subprocess.Popen([sys.executable, "-m", "learnsys", "train", "--pace", "20", "--steps", str(LIVE_STEPS),
                              "--no-ui", "--quiet", "--runs-dir", str(runs), "--run-id", "live"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # open the page as soon as the run exists
            with contextlib.suppress(Exception):
                if RunStore(runs / "learnsys.sqlite", readonly=True).run("live"):
                    break
            time.sleep(0.05)
        page.goto(f"http://127.0.0.1:{env['port']}/#run=live")
        page.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
        page.wait_for_function("() => window.learnsysLectureDebug.views.landscape", timeout=20_000)
        view = "() => window.learnsysLectureDebug.views.landscape"
        seen = []
        while len(seen) < 4:  # the path grows while the run is still training
            info = page.evaluate(view)
            status = page.locator("#run-status").get_attribute("data-status")
            if status == "running" and (not seen or info["pathPoints"] > seen[-1]["pathPoints"]):
                seen.append(info)
            assert train.poll() is None, "the run ended before the page saw its path grow"
            time.sleep(0.25)
        assert all(s["live"] for s in seen) and seen[-1]["pathPoints"] >= seen[0]["pathPoints"] + 3
        assert any(s["tail"] > 0 for s in seen)  # points drawn from the event stream, ahead of the artifact
        # The drawn path's last point is the last step's parameters as the page received them.
        last = page.evaluate("""() => { const d = window.learnsysDebug;
            const c = echarts.getInstanceByDom(document.querySelector('[data-artifact=landscape] .lecture-plot'));
            const path = c.getOption().series.find((s) => s.id === 'path').data;
            const w = d.series('param/w'), b = d.series('param/b');
            return { point: path[path.length - 1], w: [w.steps[w.steps.length - 1], w.values[w.values.length - 1]],
                     b: b.values[b.values.length - 1] }; }""")
        if last["point"][2] == last["w"][0]:
            assert last["point"][:2] == [last["w"][1], last["b"]]
        assert train.wait(timeout=60) == 0, train.stderr.read()
        page.wait_for_function("() => window.learnsysLectureDebug.views.landscape.live === false", timeout=20_000)
        final = page.evaluate(view)
        assert final["step"] == LIVE_STEPS and final["pathPoints"] == LIVE_STEPS + 1 and final["tail"] == 0
    finally:
        if train.poll() is None:
            train.kill()


def test_graph_steps_through_the_backward_pass(page, env):
    _open(page, env, "poly", "graph")
    dbg = "() => window.learnsysLectureDebug.graph"
    g = page.evaluate(dbg)
    assert g["visited"] == 0 and all("grad ?" in label for label in g["labels"])
    page.click("[data-artifact=graph] button[data-action=next]")
    g = page.evaluate(dbg)
    assert g["visited"] == 1 and g["current"] == "mean(r²)"       # the slides' MSE: r = ŷ − y, r², mean
    assert sum("grad ?" not in label for label in g["labels"]) == 1
    page.click("[data-artifact=graph] button[data-action=all]")
    g = page.evaluate(dbg)
    assert g["visited"] == g["total"] == 13 and not any("grad ?" in label for label in g["labels"])
    assert text_problems(page) == [] and hover_every_chart(page)
    _shot(page, "graph")
    page.select_option("#lang", "zh")
    page.wait_for_function("() => document.querySelector('[data-artifact=graph] h3').textContent.startsWith('计算图')")
    page.select_option("#lang", "en")
    page.wait_for_function("() => document.querySelector('[data-artifact=graph] h3').textContent.startsWith('Computational')")


def test_big_graph_draws_module_boxes_that_expand(page, env):
    _open(page, env, "deep", "graph")
    g = page.evaluate("() => window.learnsysLectureDebug.graph")
    assert g["shown"] < 200 and any(label.startswith("▣ net.") for label in g["labels"])
    page.evaluate("() => window.learnsysLectureDebug.graphToggle('net.0')")
    g2 = page.evaluate("() => window.learnsysLectureDebug.graph")
    assert g2["shown"] > g["shown"] and "net.0" in g2["expanded"]


def _axis_names(page) -> dict:
    """{axis: its name} of the first lecture chart of the landscape view, as ECharts drew it."""
    return page.evaluate("""() => { const c = echarts.getInstanceByDom(document.querySelector('[data-artifact=landscape] .lecture-plot'));
        const o = c.getOption(); return { x: o.xAxis[0].name, y: o.yAxis[0].name }; }""")


def test_one_scalar_curve_keeps_its_axis_title_clear_of_the_numbers(page, env):
    """Lecture 3's loss over w as lr 0.25 makes it diverge (8.2e7): the MSE title above the y
    axis overlaps no tick label, however long, in both languages (issue 11)."""
    _open(page, env, "nobias", "landscape")
    assert page.evaluate("() => window.learnsysLectureDebug.views.landscape.flat") is False
    assert _axis_names(page) == {"x": "w", "y": "MSE"} and not page.query_selector(".lecture-flat")
    for lang in ("en", "zh"):
        page.select_option("#lang", lang)
        assert text_problems(page) == [] and hover_every_chart(page)
    page.select_option("#lang", "en")
    _shot(page, "landscape-curve")


def test_a_constant_surface_says_so_and_an_old_plane_reads_as_u_v(page, env):
    """The loss over two parameters it does not depend on: one colour and a note with the value,
    never a blank chart; a plane stored with α, β axes is drawn with the u, v names."""
    _open(page, env, "idle", "landscape")
    info = page.evaluate("() => window.learnsysLectureDebug.views.landscape")
    assert info["kind"] == "exact" and info["flat"] is True
    note = page.inner_text("[data-artifact=landscape] .lecture-flat")
    assert note.startswith("The loss is the same everywhere on this plane: MSE = ")
    cells = page.evaluate("""() => echarts.getInstanceByDom(document.querySelector('[data-artifact=landscape] .lecture-plot'))
        .getOption().series.find((s) => s.id === 'surface').data.length""")
    assert cells == 81                                              # every grid cell drawn, in one colour
    assert page.evaluate("""() => echarts.getInstanceByDom(document.querySelector('[data-artifact=landscape] .lecture-plot'))
        .getOption().visualMap[0].show""") is False                  # no colour scale for a range it lacks
    assert text_problems(page) == [] and hover_every_chart(page)
    page.select_option("#lang", "zh")
    page.wait_for_function("() => document.querySelector('.lecture-flat').textContent.startsWith('这个平面上处处损失相同')")
    page.select_option("#lang", "en")
    _shot(page, "landscape-flat")
    _open(page, env, "oldplane", "landscape")
    info = page.evaluate("() => window.learnsysLectureDebug.views.landscape")
    assert info["kind"] == "plane" and info["flat"] is True and info["axes"][0].startswith("u ")
    names = _axis_names(page)
    assert names["x"].startswith("u (") and names["y"].startswith("v (") and "β" not in str(names)
    assert "MSE = 0.25" in page.inner_text("[data-artifact=landscape] .lecture-flat")
    assert text_problems(page) == [] and hover_every_chart(page)
