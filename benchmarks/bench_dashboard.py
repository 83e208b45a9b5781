"""Dashboard benchmarks: step-to-browser latency, and a 1,000,000-step run's series query
and page render times. Results go into docs/performance.md ("Dashboard").

    python benchmarks/bench_dashboard.py                 # everything (about a minute on 2 cores)
    python benchmarks/bench_dashboard.py --big-steps 200000 --latency-steps 200

Latency: a producer thread hands each step's metrics to a `StoreWriter` exactly as the
training loop's store sink does (paced runs: every step; full speed: a batch every 100 ms),
noting the wall-clock time when the step was recorded; the page (real chromium, Playwright)
notes when the step is drawn (`window.learnsysDebug.arrivals`, after the chart update).
Same machine, same clock: latency = drawn - recorded.

Lecture 5 with the dashboard open: `learnsys train --steps N` (lecture 5's linear regression)
timed from its start to its end event, plain and with a dashboard serving the runs dir and
one page following the run; median of 3 each.

Big run: 1,000,000 steps of train/loss, lr, param/w and param/b (4,000,000 rows) written
with RunStore; the series endpoint is timed over HTTP cold (first request after the server
starts) and warm; the page render is the time from loading the run to its first full draw
of all four charts (`learnsysDebug.loadMs`), on a cold and on a warm server.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

from learnsys.store import STORE_FILENAME, RunStore, StoreWriter
from learnsys.ui.launch import start_dashboard

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))]


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
    page.goto(url)
    page.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=120_000)
    return page


def latency(browser, runs_dir: Path, steps: int, rate: float, batch_s: float) -> list[float]:
    """Milliseconds from recording a step to the page drawing it, for each step."""
    run_id = f"lat-{int(rate)}-{int(batch_s * 1000)}"
    store = RunStore(runs_dir / STORE_FILENAME)
    store.create_run(run_id, kind="train", spec={}, status="running", total_steps=steps)
    store.close()
    dash = start_dashboard(str(runs_dir))
    page = open_page(browser, dash.url + f"#run={run_id}")
    recorded: dict[int, float] = {}
    writer = StoreWriter(runs_dir / STORE_FILENAME)
    pending: list = []
    last_handoff = time.time()
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        delay = t0 + step / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        recorded[step] = time.time()
        pending += [("train/loss", step, 1.0 / step), ("lr", step, 0.01)]
        if batch_s == 0 or time.time() - last_handoff >= batch_s or step == steps:
            writer.put_metrics(run_id, pending)
            writer.put_run_update(run_id, step=step)
            pending, last_handoff = [], time.time()
    writer.flush()
    writer.close()
    page.wait_for_function("(n) => { const s = window.learnsysDebug.series('train/loss'); "
                           "return !!s && s.steps[s.steps.length - 1] === n; }", arg=steps, timeout=30_000)
    page.wait_for_timeout(200)  # the last arrivals are stamped after the next paint
    drawn = page.evaluate("window.learnsysDebug.arrivals")
    received = page.evaluate("window.learnsysDebug.received")
    page.close()
    dash.close()
    got = [(received[str(s)] / 1000 - recorded[s]) * 1000 for s in range(1, steps + 1) if str(s) in received]
    print(f"  (received by the page: p50 {statistics.median(got):.0f} ms, p95 {percentile(got, 95):.0f} ms)")
    return [(drawn[str(s)] / 1000 - recorded[s]) * 1000 for s in range(1, steps + 1) if str(s) in drawn]


def train_seconds(runs_dir: Path, run_id: str, steps: int) -> float:
    """Run lecture 5 (`learnsys train`, linear on the lecture data, full batch) for `steps`
    steps; its training time from the store's start and end events (no process start-up)."""
    subprocess.run([sys.executable, "-m", "learnsys", "train", "--steps", str(steps), "--no-ui", "--quiet",
                    "--runs-dir", str(runs_dir), "--run-id", run_id], check=True, capture_output=True)
    store = RunStore(runs_dir / STORE_FILENAME, readonly=True)
    times = {e["kind"]: e["time"] for e in store.events(run_id)}
    store.close()
    return times["end"] - times["start"]


def overhead(browser, tmp: Path, steps: int, repeats: int) -> tuple[float, float]:
    """Median seconds per run: plain, and with a dashboard serving the runs dir and one page
    following the run (it selects the newest run and streams its rows)."""
    plain, watched = [], []
    for i in range(repeats):
        plain.append(train_seconds(tmp / f"plain{i}", "lec5", steps))
        runs_dir = tmp / f"watched{i}"
        runs_dir.mkdir(parents=True)
        dash = start_dashboard(str(runs_dir))
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(dash.url)
        watched.append(train_seconds(runs_dir, "lec5", steps))
        page.wait_for_function("(n) => { const s = window.learnsysDebug.series('train/loss'); "
                               "return !!s && s.steps[s.steps.length - 1] === n; }", arg=steps, timeout=60_000)
        page.close()
        dash.close()
    return statistics.median(plain), statistics.median(watched)


def make_big_run(runs_dir: Path, steps: int) -> None:
    store = RunStore(runs_dir / STORE_FILENAME)
    store.create_run("big", kind="train", spec={}, status="finished", total_steps=steps, model="linear",
                     data="synthetic")
    chunk = 100_000
    for a in range(1, steps + 1, chunk):
        rows = []
        for s in range(a, min(a + chunk, steps + 1)):
            loss = 1.0 / math.sqrt(s) + 0.05 * math.sin(s * 0.37) ** 2 + (3.0 if s % 99_991 == 0 else 0.0)
            rows += [("train/loss", s, loss), ("lr", s, 0.01), ("param/w", s, 2 - 1 / s), ("param/b", s, 1 / s)]
        store.append_metrics("big", rows)
    store.add_event("big", steps // 2, "checkpoint", "Checkpoint.")
    store.close()


def timed_get(client: httpx.Client, url: str) -> tuple[float, dict]:
    t = time.perf_counter()
    r = client.get(url)
    r.raise_for_status()
    return (time.perf_counter() - t) * 1000, r.json()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big-steps", type=int, default=1_000_000)
    ap.add_argument("--latency-steps", type=int, default=300)
    ap.add_argument("--lecture5-steps", type=int, default=50_000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary runs dir")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    tmp = Path(tempfile.mkdtemp(prefix="learnsys-bench-ui-"))
    runs_dir = tmp / "runs"
    print(f"# dashboard benchmark ({sys.platform}, python {sys.version.split()[0]}, runs in {runs_dir})")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        for label, rate, batch in (("paced, 20 steps/s, handed over every step", 20, 0.0),
                                   ("full speed, 1000 steps/s, handed over every 100 ms", 1000, 0.1)):
            n = args.latency_steps if rate <= 50 else args.latency_steps * 10
            lat = latency(browser, runs_dir, n, rate, batch)
            print(f"step-to-browser latency ({label}; {len(lat)} steps): "
                  f"p50 {statistics.median(lat):.0f} ms, p95 {percentile(lat, 95):.0f} ms, max {max(lat):.0f} ms")

        plain, watched = overhead(browser, tmp, args.lecture5_steps, 3)
        print(f"lecture 5 ({args.lecture5_steps:,} steps, median of 3): plain {plain / args.lecture5_steps * 1e6:.1f} "
              f"us/step, dashboard open with a page following the run {watched / args.lecture5_steps * 1e6:.1f} "
              f"us/step: {watched / plain:.3f}x")

        t = time.perf_counter()
        make_big_run(runs_dir, args.big_steps)
        print(f"big run: {args.big_steps:,} steps x 4 series written in {time.perf_counter() - t:.1f} s")
        # The series endpoint in-process without the start-up warm-up: a truly cold first query.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*httpx")
            from starlette.testclient import TestClient

        from learnsys.ui.app import create_app

        q = "/api/runs/big/series?name=train/loss&width=1200&beta=0.4"
        with TestClient(create_app(runs_dir), base_url="http://127.0.0.1:8765") as client:
            cold, body = timed_get(client, q)
        # Over HTTP from the real server, after its warm-up.
        dash = start_dashboard(str(runs_dir))
        base = dash.url.split("?")[0].rstrip("/")
        with httpx.Client(timeout=120) as client:
            timed_get(client, base + q)
            warm = sorted(timed_get(client, base + q)[0] for _ in range(7))
            zoom = sorted(timed_get(client, f"{base}/api/runs/big/series?name=train/loss&start=500000&stop=502000"
                                            f"&width=1200&beta=0.4")[0] for _ in range(7))
        print(f"series query, {args.big_steps:,} steps -> {len(body['steps'])} points ({body['mode']}), with "
              f"smoothing: cold (nothing cached) {cold:.0f} ms, warm median {statistics.median(warm):.0f} ms "
              f"(max {warm[-1]:.0f} ms)")
        print(f"zoomed query (2,001 steps, full resolution): median {statistics.median(zoom):.0f} ms")
        dash.close()

        dash = start_dashboard(str(runs_dir))  # a fresh server: nothing cached
        page = open_page(browser, dash.url + "#run=big")
        cold_ms = page.evaluate("window.learnsysDebug.loadMs")
        counts = page.evaluate("window.learnsysDebug.counts()")
        page.close()
        warm_ms = []
        for _ in range(3):
            page = open_page(browser, dash.url + "#run=big")
            warm_ms.append(page.evaluate("window.learnsysDebug.loadMs"))
            if _ == 0:
                Path("test-artifacts").mkdir(exist_ok=True)
                page.screenshot(path="test-artifacts/dashboard-1m.png")
            page.close()
        print(f"page render, {args.big_steps:,}-step run (4 charts, points drawn {counts}): opened right after "
              f"the server started {cold_ms:.0f} ms, later loads median {statistics.median(warm_ms):.0f} ms")
        dash.close()
        browser.close()
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
