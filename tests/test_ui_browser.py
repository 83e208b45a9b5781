"""The dashboard in a real browser (Debian's chromium, driven by Playwright) watching a real
training process (`learnsys train --pace`): new points appear without a reload, the
smoothing slider changes the smoothed curve and not the raw one, zh/en switches the labels,
a reconnect replays the points missed while the server was down, and a finished run shows
all its points. A screenshot goes to test-artifacts/dashboard.png.

The page exposes `window.learnsysDebug` (point counts and arrays per series) so these
tests compare real numbers with the store, not pixels.
"""

from __future__ import annotations

import math
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from learnsys.store import STORE_FILENAME, RunStore
from learnsys.ui.launch import start_dashboard

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
STEPS, PACE = 300, 30  # ~10 s of training: long enough to watch, short enough for CI

# Predicates are functions, not strings: the page's CSP forbids eval, which string predicates use.
COUNT_AT_LEAST = "(n) => (window.learnsysDebug.counts()['train/loss'] || 0) >= n"

if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (.ci/run installs it)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _db_counts(runs_dir: Path, run_id: str) -> dict[str, int]:
    store = RunStore(runs_dir / STORE_FILENAME, readonly=True)
    try:
        return {n: len(store.series(run_id, n)[0]) for n in store.metric_names(run_id)}
    except sqlite3.OperationalError:  # the training process is still creating the schema
        return {}
    finally:
        store.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    runs_dir = tmp_path_factory.mktemp("browser") / "runs"
    port = _free_port()
    train = subprocess.Popen(
        [sys.executable, "-m", "learnsys", "train", "--steps", str(STEPS), "--pace", str(PACE), "--no-ui",
         "--quiet", "--runs-dir", str(runs_dir), "--run-id", "live", "--checkpoint-every", "100", "--checkpoint-seconds", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    dash = start_dashboard(str(runs_dir), port=port)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    state = {"runs_dir": runs_dir, "port": port, "train": train, "dash": dash, "browser": browser}
    try:
        _wait(lambda: (runs_dir / STORE_FILENAME).exists() and _db_counts(runs_dir, "live").get("train/loss", 0) > 3,
              60, "the training to log its first steps")
        yield state
    finally:
        browser.close()
        pw.stop()
        state["dash"].close()
        if train.poll() is None:
            train.kill()
        train.wait(10)


@pytest.fixture(scope="module")
def page(env):
    context = env["browser"].new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" and "EventSource" not in m.text
         and "ERR_CONNECTION_REFUSED" not in m.text  # the server is down on purpose in the reconnect test
         and "ERR_INCOMPLETE_CHUNKED_ENCODING" not in m.text else None)
    p.goto(f"http://127.0.0.1:{env['port']}/#run=live")
    p.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
    p.errors = errors
    yield p
    context.close()


def _count(page, name="train/loss") -> int:
    return page.evaluate("(n) => window.learnsysDebug.counts()[n] || 0", name)


def test_new_points_appear_without_reload(env, page):
    page.evaluate("window.__sameDocument = true")
    before = _count(page)
    page.wait_for_function(COUNT_AT_LEAST, arg=before + 10, timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    series = page.evaluate("window.learnsysDebug.series('train/loss')")
    assert series["steps"] == list(range(1, len(series["steps"]) + 1))  # no gap, no duplicate
    assert page.locator("#run-status").get_attribute("data-status") == "running"
    assert page.locator("#conn").get_attribute("data-state") == "live"


def test_smoothing_slider_changes_smoothed_not_raw(page):
    before = page.evaluate("window.learnsysDebug.series('train/loss')")
    page.focus("#smoothing")
    page.keyboard.press("End")  # a real input event: smoothing 0.99, beta 0.01
    after = page.evaluate("window.learnsysDebug.series('train/loss')")
    n = len(before["steps"])
    assert after["steps"][:n] == before["steps"] and after["values"][:n] == before["values"]  # raw untouched
    assert after["smooth"][:n] != before["smooth"]
    beta = 0.01
    ref, prev = [], None
    for v in after["values"]:  # lecture 3 on the raw points
        prev = v if prev is None else beta * v + (1 - beta) * prev
        ref.append(prev)
    assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(after["smooth"], ref))
    assert page.locator("#smoothing-value").inner_text() == "β = 0.01"
    page.keyboard.press("Home")  # smoothing 0: the smoothed curve is the raw one
    again = page.evaluate("window.learnsysDebug.series('train/loss')")
    assert again["smooth"] == again["values"]


def test_zh_en_switch_changes_labels(env, page):
    caption = page.locator('.chart[data-chart="loss"] figcaption')
    assert caption.inner_text() == "Training loss"
    page.select_option("#lang", "zh")
    assert caption.inner_text() == "训练损失"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator('label[for="smoothing"]').inner_text() == "平滑"
    page.select_option("#lang", "en")
    assert caption.inner_text() == "Training loss"
    # The default follows the browser's language.
    context = env["browser"].new_context(locale="zh-CN")
    p = context.new_page()
    p.goto(f"http://127.0.0.1:{env['port']}/#run=live")
    p.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
    assert p.locator('.chart[data-chart="loss"] figcaption').inner_text() == "训练损失"
    context.close()


def test_reconnect_replays_missed_points(env, page):
    assert env["train"].poll() is None, "training ended too early for this test"
    env["dash"].close()  # the server goes away; training goes on
    page.wait_for_function("() => document.querySelector('#conn').dataset.state === 'reconnecting'", timeout=10_000)
    held = _count(page)
    time.sleep(1.5)
    missed_while_down = _db_counts(env["runs_dir"], "live")["train/loss"] - held
    env["dash"] = start_dashboard(str(env["runs_dir"]), port=env["port"])
    page.wait_for_function("() => window.learnsysDebug.reconnects >= 1", timeout=15_000)
    assert missed_while_down > 0
    page.wait_for_function(COUNT_AT_LEAST, arg=held + missed_while_down, timeout=15_000)
    series = page.evaluate("window.learnsysDebug.series('train/loss')")
    assert series["steps"] == list(range(1, len(series["steps"]) + 1))
    print("reconnect: browser retries (Last-Event-ID) and page reopens:",
          page.evaluate("[window.learnsysDebug.reconnects, window.learnsysDebug.reopens]"))


def test_finished_run_shows_all_points(env, page):
    assert env["train"].wait(60) == 0, env["train"].stdout.read().decode()
    db = _db_counts(env["runs_dir"], "live")
    assert db["train/loss"] == STEPS
    # The live page ends up with every point ...
    page.wait_for_function("(n) => window.learnsysDebug.counts()['train/loss'] === n", arg=STEPS, timeout=15_000)
    page.wait_for_function("() => document.querySelector('#run-status').dataset.status === 'finished'", timeout=15_000)
    assert page.evaluate("window.learnsysDebug.counts()") == db
    # ... and so does a fresh page for the finished run.
    page.reload()
    page.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
    assert page.evaluate("window.learnsysDebug.counts()") == db
    series = page.evaluate("window.learnsysDebug.series('train/loss')")
    assert series["steps"] == list(range(1, STEPS + 1)) and series["complete"] is True
    events = page.evaluate("window.learnsysDebug.state.data.live.events.map(e => e.kind)")
    assert "checkpoint" in events and "end" in events
    # Predict with the trained model, from the page.
    page.fill("#predict-input", "4; 5")
    page.click('#predict-form button[type="submit"]')
    page.wait_for_function("() => (window.learnsysDebug.lastPrediction || []).length === 2", timeout=15_000)
    assert page.locator("#predict-out tr").count() == 3  # header + two rows
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert not page.errors, page.errors


def _long_run(runs_dir: Path, run_id: str, steps: int) -> None:
    store = RunStore(runs_dir / STORE_FILENAME)
    store.create_run(run_id, kind="train", spec={}, status="finished", total_steps=steps)
    store.append_metrics(run_id, [("train/loss", s, 1.0 / s + (2.0 if s == 12_345 else 0.0)) for s in range(1, steps + 1)])
    store.add_event(run_id, steps // 2, "resume", "Resumed.")
    store.add_event(run_id, 12_000, "divergence", "Loss exploded; rolled back.")
    store.close()


def test_long_run_is_sampled_and_zoom_fetches_full_resolution(env):
    _long_run(env["runs_dir"], "long", 50_000)
    context = env["browser"].new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    p = context.new_page()
    p.goto(f"http://127.0.0.1:{env['port']}/#run=long")
    p.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
    s = p.evaluate("window.learnsysDebug.series('train/loss')")
    assert s["complete"] is False and len(s["steps"]) < 5_000  # min/max buckets, not 50,000 points
    assert s["steps"][0] == 1 and s["steps"][-1] == 50_000 and 12_345 in s["steps"]  # ends and the spike
    marks = p.evaluate("window.learnsysDebug.chartSeries('loss')")[0]["marks"]
    assert sorted(marks) == ["divergence", "resume"]
    # The slider on a sampled curve: the server smooths the raw points (not the sampled ones).
    before = s["smooth"]
    p.focus("#smoothing")
    p.keyboard.press("End")  # beta = 0.01
    p.wait_for_function("(old) => window.learnsysDebug.series('train/loss').smooth[5] !== old", arg=before[5],
                        timeout=10_000)
    s = p.evaluate("window.learnsysDebug.series('train/loss')")
    raw = [1.0 / k + (2.0 if k == 12_345 else 0.0) for k in range(1, 50_001)]
    ref, prev = [], None
    for v in raw:
        prev = v if prev is None else 0.01 * v + 0.99 * prev
        ref.append(prev)
    assert all(math.isclose(s["smooth"][i], ref[k - 1], rel_tol=1e-9) for i, k in enumerate(s["steps"]))
    p.evaluate("window.learnsysDebug.zoom(20000, 20500)")
    p.wait_for_function("() => (window.learnsysDebug.zooms || 0) >= 1", timeout=10_000)
    s = p.evaluate("window.learnsysDebug.series('train/loss')")
    visible = [x for x in s["steps"] if 20_000 <= x <= 20_500]
    assert visible == list(range(20_000, 20_501))  # every raw point in the visible range
    assert s["steps"][0] == 1 and s["steps"][-1] == 50_000
    context.close()


def test_overlay_compares_runs(env):
    context = env["browser"].new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    p = context.new_page()
    p.goto(f"http://127.0.0.1:{env['port']}/#run=live")
    p.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
    p.locator('#runs li[data-run="long"] input[type=checkbox]').check()
    p.wait_for_function("() => window.learnsysDebug.chartSeries('loss').some(s => s.name.startsWith('long'))",
                        timeout=10_000)
    names = [s["name"] for s in p.evaluate("window.learnsysDebug.chartSeries('loss')")]
    assert any(n.startswith("live · ") for n in names) and any(n.startswith("long · ") for n in names)
    assert "compare=long" in p.url
    context.close()


def test_resume_continues_the_curve_on_the_same_step_axis(env):
    """kill -9 mid-run, `learnsys resume`: the page drops the rows logged after the last
    checkpoint and ends with every step exactly once, with a resume marker."""
    runs_dir = env["runs_dir"]
    cmd = [sys.executable, "-m", "learnsys"]
    train = subprocess.Popen([*cmd, "train", "--steps", "120", "--pace", "40", "--no-ui", "--quiet", "--runs-dir",
                              str(runs_dir), "--run-id", "resumed", "--checkpoint-every", "30", "--checkpoint-seconds", "0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        _wait(lambda: _db_counts(runs_dir, "resumed").get("train/loss", 0) >= 45, 60, "steps past a checkpoint")
        context = env["browser"].new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        p = context.new_page()
        p.goto(f"http://127.0.0.1:{env['port']}/#run=resumed")
        p.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
        train.kill()  # kill -9: rows after the last checkpoint are in the store but not in a checkpoint
        train.wait(10)
        subprocess.run([*cmd, "resume", "resumed", "--no-ui", "--quiet", "--runs-dir", str(runs_dir)],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        p.wait_for_function("() => window.learnsysDebug.counts()['train/loss'] === 120", timeout=20_000)
        p.wait_for_function("() => window.learnsysDebug.chartSeries('loss')[0].marks.includes('resume')",
                            timeout=20_000)  # as the counts above: a loaded CI machine took more than 10 s
        series = p.evaluate("window.learnsysDebug.series('train/loss')")
        assert series["steps"] == list(range(1, 121))
        assert p.evaluate("window.learnsysDebug.counts()") == _db_counts(runs_dir, "resumed")
        context.close()
    finally:
        if train.poll() is None:
            train.kill()


def test_a_fast_live_run_is_resampled_not_piled_up(env):
    """Thousands of steps a second: the page swaps its raw points for the server's buckets."""
    from learnsys.store import StoreWriter

    runs_dir, steps = env["runs_dir"], 12_000
    store = RunStore(runs_dir / STORE_FILENAME)
    store.create_run("fast", kind="train", spec={}, status="running", total_steps=steps)
    store.close()
    context = env["browser"].new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    p = context.new_page()
    p.goto(f"http://127.0.0.1:{env['port']}/#run=fast")
    p.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
    writer = StoreWriter(runs_dir / STORE_FILENAME)
    for a in range(1, steps + 1, 300):  # 300 steps every 50 ms: 6,000 steps/s
        writer.put_metrics("fast", [("train/loss", s, 1.0 / s) for s in range(a, min(a + 300, steps + 1))])
        time.sleep(0.05)
    writer.close()
    p.wait_for_function("(n) => { const s = window.learnsysDebug.series('train/loss'); "
                        "return s && s.steps[s.steps.length - 1] === n; }", arg=steps, timeout=20_000)
    s = p.evaluate("window.learnsysDebug.series('train/loss')")
    assert p.evaluate("window.learnsysDebug.resamples") >= 1
    assert len(s["steps"]) < steps and s["steps"][0] == 1
    assert all(a < b for a, b in zip(s["steps"], s["steps"][1:]))  # ordered, no duplicates
    # After the burst the page asks the server once more: the smoothed curve reaches the last step.
    p.wait_for_function("() => { const s = window.learnsysDebug.series('train/loss'); "
                        "return s.smooth[s.smooth.length - 1] !== null; }", timeout=10_000)
    width = p.evaluate("document.querySelector('.plot').clientWidth")
    drawn = p.evaluate("window.learnsysDebug.chartSeries('loss')")
    assert all(d["points"] <= 4 * width + 2 for d in drawn)  # at most ~4 points per pixel reach ECharts
    context.close()


def test_token_url_works_in_the_browser(env):
    """Off loopback: the printed URL (with ?token=) opens the page; the cookie carries the
    token for the page's own requests and its event stream."""
    dash = start_dashboard(str(env["runs_dir"]), host="0.0.0.0", port=_free_port())
    try:
        assert "?token=" in dash.url
        context = env["browser"].new_context(locale="en-US")
        p = context.new_page()
        p.goto(dash.url + "#run=live")
        p.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
        p.wait_for_function("() => document.querySelector('#conn').dataset.state === 'live'", timeout=10_000)
        assert p.evaluate("window.learnsysDebug.counts()['train/loss']") == STEPS
        bare = context.new_page()  # same browser, no token in the URL: the cookie is enough
        bare.goto(dash.url.split("?")[0] + "#run=live")
        bare.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
        context.close()
        other = env["browser"].new_context()  # a browser without the token gets nothing
        q = other.new_page()
        response = q.goto(dash.url.split("?")[0])
        assert response.status == 401
        other.close()
    finally:
        dash.close()
