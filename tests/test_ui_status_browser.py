"""How a run ended and how it was trained, in a real browser (chromium via Playwright) on
real runs, in both languages, with no console error:

- a run that diverged (lecture 3's lr 1e9 with the guard off: exit 1, status 'diverged') and
  one whose store row is damaged get badges of their own in the run list and the header, and
  the header says why the run ended and what to try;
- a run trained by 2 processes (meta.json's world_size, as `api.train` writes it under
  torchrun) says "2 processes (DDP)";
- a classifier's accuracy chart holds train and dev accuracy together on a 0-100 % axis;
- a run of one step (a single x value) draws every chart with no label cut off.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from .browser_checks import CHART_TEXTS, chart_count, hover_every_chart, text_problems, watch_console

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (.ci/run installs it)", allow_module_level=True)

LECTURE = ["--model", "linear-nobias", "--data", "lecture", "--init", "w=1"]
TEXT = {  # what the page says, per language
    "en": {"diverged": "diverged", "damaged": "damaged", "finished": "finished", "ddp": "2 processes (DDP)",
           "reason": "Why it ended: ended at step", "advice": "lr-find", "train_acc": "train accuracy (each batch)",
           "dev_acc": "dev accuracy"},
    "zh": {"diverged": "已发散", "damaged": "已损坏", "finished": "已完成", "ddp": "2 个进程（DDP）",
           "reason": "结束原因：到第", "advice": "lr-find", "train_acc": "训练集准确率（每个批次）", "dev_acc": "验证集准确率"},
}


def _cli(*args, code: int = 0) -> None:
    from learnsys.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([str(a) for a in args]) == code


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from learnsys.store import STORE_FILENAME
    from learnsys.ui.launch import start_dashboard
    from playwright.sync_api import sync_playwright

    runs = tmp_path_factory.mktemp("status") / "runs"
    common = ["--no-ui", "--quiet", "--runs-dir", runs]
    _cli("train", *LECTURE, "--lr", "1e9", "--epochs", "400", "--guard", "off", "--run-id", "blowup", *common, code=1)
    _cli("train", *LECTURE, "--lr", "0.01", "--epochs", "1", "--batch-size", "full", "--run-id", "one", *common)
    _cli("train", *LECTURE, "--lr", "0.01", "--epochs", "5", "--run-id", "ddp", *common)
    _cli("train", *LECTURE, "--lr", "0.01", "--epochs", "5", "--run-id", "broken", *common)
    _cli("train", "--model", "softmax", "--data", "iris", "--dev", "0.2", "--standardize", "--optimizer", "adam",
         "--lr", "0.05", "--epochs", "20", "--run-id", "iris", *common)
    meta = runs / "ddp" / "meta.json"  # what api.train writes for `torchrun --nproc-per-node 2`
    meta.write_text(json.dumps({**json.loads(meta.read_text(encoding="utf-8")), "world_size": 2}), encoding="utf-8")
    with sqlite3.connect(runs / STORE_FILENAME) as con:  # the store lists this run as 'damaged'
        con.execute("UPDATE runs SET spec = '{not json' WHERE id = 'broken'")
    port = _free_port()
    dash = start_dashboard(str(runs), port=port)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
    try:
        yield {"url": f"http://127.0.0.1:{port}/", "browser": browser}
    finally:
        browser.close()
        pw.stop()
        dash.close()


@pytest.fixture(params=["en", "zh"])
def page(request, env):
    context = env["browser"].new_context(viewport={"width": 1280, "height": 1000},
                                         locale="zh-CN" if request.param == "zh" else "en-US")
    p = context.new_page()
    p.errors = watch_console(p)
    p.text = TEXT[request.param]
    yield p
    context.close()
    assert not p.errors, p.errors


def _open(page, env, run_id: str) -> None:
    page.goto(env["url"] + "#run=" + run_id)
    page.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=20_000)
    page.wait_for_selector('#runs li[data-run="broken"]')


def test_a_diverged_run_says_so_and_why(page, env):
    _open(page, env, "blowup")
    head = page.locator("#run-status")
    assert (head.get_attribute("data-status"), head.inner_text()) == ("diverged", page.text["diverged"])
    badge = page.locator('#runs li[data-run="blowup"] .status')
    assert (badge.get_attribute("data-status"), badge.inner_text()) == ("diverged", page.text["diverged"])
    message = page.locator("#run-message")
    assert message.inner_text().startswith(page.text["reason"]), message.inner_text()
    assert "ended-badly" in message.get_attribute("class")
    assert page.locator("#run-advice").is_visible() and page.text["advice"] in page.locator("#run-advice").inner_text()
    broken = page.locator('#runs li[data-run="broken"] .status')
    assert (broken.get_attribute("data-status"), broken.inner_text()) == ("damaged", page.text["damaged"])
    finished = page.locator('#runs li[data-run="one"] .status')
    assert finished.inner_text() == page.text["finished"]
    colours = {s: page.locator(f'#runs li[data-run="{r}"] .status').evaluate("(e) => getComputedStyle(e).backgroundColor")
               for s, r in (("diverged", "blowup"), ("damaged", "broken"), ("finished", "one"))}
    assert len(set(colours.values())) == 3, colours


def test_a_run_that_ended_well_shows_no_reason(page, env):
    _open(page, env, "one")
    assert "ended-badly" not in (page.locator("#run-message").get_attribute("class") or "")
    assert not page.locator("#run-advice").is_visible()
    assert "DDP" not in page.locator("#run-meta").inner_text()
    # the throughput since the start, in the page's language ("… samples/s" / "每秒 … 个样本")
    assert re.search(r"[\d,.e]+ samples/s" if page.text["finished"] == "finished" else r"每秒 [\d,.e]+ 个样本",
                     page.locator("#run-meta").inner_text()), page.locator("#run-meta").inner_text()


def test_a_run_of_two_processes_says_ddp(page, env):
    _open(page, env, "ddp")
    assert page.text["ddp"] in page.locator("#run-meta").inner_text()


def test_the_accuracy_chart_holds_train_and_dev_as_percent(page, env):
    _open(page, env, "iris")
    names = [s["name"] for s in page.evaluate("window.learnsysDebug.chartSeries('acc')")]
    assert names == [page.text["dev_acc"], page.text["train_acc"]], names
    assert page.evaluate("window.learnsysDebug.chart('acc').getOption().yAxis[0].max") == 1
    labels = [b["text"] for c in page.evaluate(CHART_TEXTS) if c["where"] == "acc" for b in c["texts"]]
    assert "100 %" in labels and "0 %" in labels, labels
    assert text_problems(page) == []
    hover_every_chart(page)  # no console error on any chart (the page fixture)
    plot = page.locator('.chart[data-chart="acc"] .plot')
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.55)
    tip = page.locator('.chart[data-chart="acc"] .learnsys-tooltip')
    tip.wait_for(state="visible", timeout=5_000)
    assert re.search(r"\d %", tip.inner_text()), tip.inner_text()  # "93.3 %", not 0.933


def test_a_run_of_one_step_clips_no_label(page, env):
    _open(page, env, "one")
    counts = page.evaluate("window.learnsysDebug.counts()")
    assert counts["train/loss"] == 1, counts
    assert chart_count(page) >= 3
    assert text_problems(page) == []
    for c in page.evaluate(CHART_TEXTS):  # ticks that tell steps apart: not 0.5, 0.6, ... all shown as "1"
        ticks = [b["text"] for b in c["texts"] if b["kind"] == "xAxis" and b["text"] not in ("step", "步数")]
        assert "1" in ticks and len(ticks) == len(set(ticks)), (c["where"], ticks)
