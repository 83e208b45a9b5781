"""Dashboard benchmarks: step-to-browser latency (paced, and full speed beside a real
training run), what a page following a run costs the training, and a 1,000,000-step run's
series query and page render. Results go into docs/performance.md ("Dashboard").

    python benchmarks/bench_dashboard.py                       # this tree, 5 repetitions (~4 min)
    python benchmarks/bench_dashboard.py --before /tmp/base    # and an older checkout, alternating
    python benchmarks/bench_dashboard.py --only latency --reps 7

Each figure is the median over the repetitions with its range [min-max]. With --before DIR,
every repetition runs the dashboard (server and page) of DIR and of this tree one after the
other, so load from elsewhere hits both alike. The load average is printed at the start and
the end.

Latency: a producer thread hands each step's metrics to a `StoreWriter` exactly as the
training loop's store sink does (paced runs: every step; full speed: a batch every 100 ms),
noting the wall-clock time when the step was recorded; the page (real chromium, Playwright)
notes when the step is drawn (`window.learnsysDebug.arrivals`, after the chart update).
Same machine, same clock: latency = drawn - recorded. The full-speed case runs alone and
with a real `learnsys train` (lecture 5, full speed, no page) training beside it, as on a
2-core laptop with a run going: then the producer, the server and the browser share the
one core the training leaves.

Training cost: `learnsys train --steps N` (lecture 5) timed from its start to its end event,
plain and with a dashboard serving the runs dir and one page following the run.

Big run: 1,000,000 steps of train/loss, lr, param/w and param/b (4,000,000 rows) written with
RunStore. The series endpoint is timed cold (in-process, nothing cached) and warm over HTTP.
Page render: from navigation to the page having drawn all four charts (`performance.now()`
right after `learnsysDebug.ready`; "after scripts" is the page's own `loadMs`, from the moment
its scripts ran), on a server started the moment before (cold) and on the same server again
(warm).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
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
HERE = str(Path(__file__).resolve().parents[1])
RUN_NUMBER = itertools.count()


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))]


def spread(xs: list[float], fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(statistics.median(xs))} [{fmt.format(min(xs))}-{fmt.format(max(xs))}]"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.contextmanager
def tree(path: str):
    """Dashboards started inside serve the learnsys of `path` (its server and its page):
    `python -m learnsys ui` imports from its working folder first, then PYTHONPATH."""
    old, cwd = os.environ.get("PYTHONPATH"), os.getcwd()
    os.environ["PYTHONPATH"] = path
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
    page.goto(url)
    page.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready", timeout=120_000)
    return page


def training_beside(tmp: Path) -> subprocess.Popen:
    """A real full-speed lecture 5 run, no page, until killed."""
    return subprocess.Popen([sys.executable, "-m", "learnsys", "train", "--steps", "100000000", "--no-ui", "--quiet",
                             "--runs-dir", str(tmp / "beside"), "--checkpoint-every", "100000000"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": HERE}, cwd=HERE)


def latency(browser, runs_dir: Path, run_id: str, steps: int, rate: float, batch_s: float) -> tuple[list, list]:
    """Milliseconds from recording a step to the page drawing it (and to receiving it)."""
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
    return [(drawn[str(s)] / 1000 - recorded[s]) * 1000 for s in range(1, steps + 1) if str(s) in drawn], got


def train_seconds(runs_dir: Path, run_id: str, steps: int) -> float:
    """Lecture 5 (`learnsys train`) for `steps` steps: its training time from the store's
    start and end events (no process start-up)."""
    subprocess.run([sys.executable, "-m", "learnsys", "train", "--steps", str(steps), "--no-ui", "--quiet",
                    "--runs-dir", str(runs_dir), "--run-id", run_id], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": HERE}, cwd=HERE)
    store = RunStore(runs_dir / STORE_FILENAME, readonly=True)
    times = {e["kind"]: e["time"] for e in store.events(run_id)}
    store.close()
    return times["end"] - times["start"]


def watched_seconds(browser, runs_dir: Path, steps: int) -> float:
    runs_dir.mkdir(parents=True)
    dash = start_dashboard(str(runs_dir))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(dash.url)  # it selects the newest run when one appears, and follows it
    seconds = train_seconds(runs_dir, "lec5", steps)
    page.wait_for_function("(n) => { const s = window.learnsysDebug.series('train/loss'); "
                           "return !!s && s.steps[s.steps.length - 1] === n; }", arg=steps, timeout=60_000)
    page.close()
    dash.close()
    return seconds


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


def page_render(browser, runs_dir: Path) -> dict[str, float]:
    """A fresh server, the page opened at once (cold); then, once the server has the run's
    series in memory, the median of three loads (warm)."""
    dash = start_dashboard(str(runs_dir))
    out: dict[str, list] = {}
    for kind in ("cold", "warm", "warm", "warm"):
        if kind == "warm":
            time.sleep(1.0)  # the server's start-up warm-up of the newest runs has finished
        page = open_page(browser, dash.url + "#run=big")
        out.setdefault(kind, []).append(page.evaluate("performance.now()"))  # navigation -> drawn (also old pages)
        out.setdefault(kind + " after scripts", []).append(page.evaluate("window.learnsysDebug.loadMs"))
        # where it went: the page's scripts (to DOMContentLoaded), the longest wait for a series
        # answer (the server), the rest (requests in turn, JSON, drawing)
        parts = page.evaluate("""() => ({ scripts: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
            server: Math.max(...performance.getEntriesByType('resource').filter((e) => e.name.includes('/series?'))
                             .map((e) => e.responseStart - e.requestStart)) })""")
        out.setdefault(kind + ": scripts", []).append(parts["scripts"])
        out.setdefault(kind + ": longest series answer", []).append(parts["server"])
        page.close()
    dash.close()
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--before", help="an older learnsys checkout to measure alternately with this one")
    ap.add_argument("--only", default="latency,cost,big", help="comma-separated: latency, cost, big")
    ap.add_argument("--big-steps", type=int, default=1_000_000)
    ap.add_argument("--latency-steps", type=int, default=200)
    ap.add_argument("--lecture5-steps", type=int, default=30_000)
    args = ap.parse_args()
    parts = set(args.only.split(","))

    from playwright.sync_api import sync_playwright

    trees = ([("before", args.before)] if args.before else []) + [("this tree", HERE)]
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    tmp = Path(tempfile.mkdtemp(prefix="learnsys-bench-ui-"))
    runs_dir = tmp / "runs"
    print(f"# dashboard benchmark ({sys.platform}, {os.cpu_count()} cores, python {sys.version.split()[0]}); "
          f"load average at start: {load()}")
    res: dict[tuple[str, str], list[float]] = {}

    def add(name: str, key: str, value: float) -> None:
        res.setdefault((name, key), []).append(value)
        print(f"    {name}: {key} {value:.3f}", flush=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        if "big" in parts:
            t = time.perf_counter()
            make_big_run(tmp / "big", args.big_steps)
            print(f"big run: {args.big_steps:,} steps x 4 series written in {time.perf_counter() - t:.1f} s")
        for rep in range(args.reps):
            for name, path in trees:
                with tree(path):
                    if "latency" in parts:
                        d, r = latency(browser, runs_dir, f"paced-{next(RUN_NUMBER)}", args.latency_steps, 20, 0.0)
                        add(name, "paced p50", statistics.median(d)); add(name, "paced p95", percentile(d, 95))
                        for where in ("alone", "beside training"):
                            beside = training_beside(tmp) if where != "alone" else None
                            try:
                                d, r = latency(browser, runs_dir, f"full-{next(RUN_NUMBER)}", args.latency_steps * 15, 1000, 0.1)
                            finally:
                                if beside is not None:
                                    beside.kill()
                                    beside.wait()
                            add(name, f"full {where} p50", statistics.median(d))
                            add(name, f"full {where} p95", percentile(d, 95))
                            add(name, f"full {where} received p95", percentile(r, 95))
                    if "cost" in parts:
                        plain = train_seconds(tmp / f"plain-{next(RUN_NUMBER)}", "lec5", args.lecture5_steps)
                        watched = watched_seconds(browser, tmp / f"watched-{next(RUN_NUMBER)}", args.lecture5_steps)
                        add(name, "lecture 5 watched/plain", watched / plain)
                        add(name, "lecture 5 plain us/step", plain / args.lecture5_steps * 1e6)
                    if "big" in parts:
                        for k, v in page_render(browser, tmp / "big").items():
                            add(name, "1M page " + k, v)
            print(f"  repetition {rep + 1}/{args.reps} done at {time.strftime('%H:%M:%S')} (load {load()})", flush=True)
        browser.close()
    if "big" in parts:  # the series endpoint, this tree only: the cold figure is the store's
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*httpx")
            from starlette.testclient import TestClient
        from learnsys.ui.app import create_app

        q = "/api/runs/big/series?name=train/loss&width=1200&beta=0.4"
        with TestClient(create_app(tmp / "big"), base_url="http://127.0.0.1:8765") as client:
            cold, body = timed_get(client, q)
            warm = [timed_get(client, q)[0] for _ in range(7)]
        print(f"series query, {args.big_steps:,} steps -> {len(body['steps'])} points ({body['mode']}), with smoothing: "
              f"cold (nothing cached) {cold:.0f} ms, warm {spread(warm)} ms")

    print(f"\nmedian [min-max] over {args.reps} repetitions (ms unless said):")
    for name, _ in trees:
        print(f"{name}:")
        for (n, key), xs in res.items():
            if n == name:
                print(f"  {key:28s} {spread(xs, '{:.3f}' if 'plain' in key else '{:.0f}')}")
    print(f"load average at end: {load()}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
