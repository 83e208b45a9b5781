"""Dashboard under load: what N live viewers of one run cost the training beside them.

    flock /tmp/learnsys-heavy.lock python benchmarks/bench_dashboard_load.py            # 50 viewers, 5 reps
    python benchmarks/bench_dashboard_load.py --viewers 10 --steps 20000 --reps 3

Each repetition runs lecture 5 (`learnsys train --steps S --no-ui`, linear regression on
the lecture data, full batch) twice, in alternating order: alone, and with a dashboard
(`learnsys ui`, its own process) serving N real server-sent-event clients that follow the
run the way the page does (`/api/runs/ID` for `last_metric_id`, then
`/stream?last_id=...&thin=1`), plus one client asking `/api/health` every 100 ms.
Training time is the run's start..end events in the store (no process start-up).

The clients are minimal asyncio HTTP/1.1 readers in this process (no browser: a browser
per viewer would measure the browsers). Lag: a sampler reads the store's newest metric id
every 20 ms; a message whose last row id is X, received at t, lags t minus the first
sample that showed X committed. End lag: from the run's last row being committed to the
slowest client holding it. Prints the median and the spread (min..max) over the reps, and
the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from learnsys.store import STORE_FILENAME, RunStore
from learnsys.ui.launch import start_dashboard

RUN_ID = "lec5"


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


async def http_get(host: str, port: int, path: str) -> tuple[int, bytes]:
    """One GET with Connection: close; the status and the body (content-length or to EOF)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read(-1)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return status, body


def _dechunk(data: bytes) -> bytes:
    out, i = [], 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(data[i:j], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[j + 2:j + 2 + size])
        i = j + 2 + size + 2


class Viewer:
    """One SSE client: follows the run, records (receive time, last row id) per message and
    checks that row ids only grow."""

    def __init__(self):
        self.received: list[tuple[float, int]] = []
        self.rows = 0
        self.out_of_order = 0
        self.last_id = 0
        self.dropped = False  # the server closed the stream

    async def follow(self, host: str, port: int, stop: asyncio.Event) -> None:
        while not stop.is_set():  # the run does not exist until `train` creates it
            status, body = await http_get(host, port, f"/api/runs/{RUN_ID}")
            if status == 200:
                self.last_id = json.loads(body)["last_metric_id"]
                break
            await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /api/runs/{RUN_ID}/stream?last_id={self.last_id}&thin=1 HTTP/1.1\r\n"
                     f"Host: {host}:{port}\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        buffer = b""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                line = asyncio.ensure_future(reader.readuntil(b"\r\n"))
                done, _ = await asyncio.wait({line, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if line not in done:
                    line.cancel()
                    return
                try:
                    size = int(line.result(), 16)
                    if size == 0:
                        raise ConnectionError("end of stream")
                    buffer += (await reader.readexactly(size + 2))[:-2]
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.dropped = True
                    return
                *messages, buffer = buffer.split(b"\n\n")
                now = time.time()
                for message in messages:
                    self._message(message, now)
        finally:
            stopping.cancel()
            writer.close()

    def _message(self, message: bytes, now: float) -> None:
        fields = dict(line.split(b": ", 1) for line in message.split(b"\n") if b": " in line)
        if fields.get(b"event") != b"metrics":
            return
        rows = json.loads(fields[b"data"])["rows"]
        ids = [r[0] for r in rows]
        if any(b <= a for a, b in zip([self.last_id, *ids], ids)):
            self.out_of_order += 1
        self.rows += len(rows)
        self.last_id = max(self.last_id, int(fields[b"id"]))
        self.received.append((now, self.last_id))


async def health_poller(host: str, port: int, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        status, _ = await http_get(host, port, "/api/health")
        out.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(0.1)


class Sampler(threading.Thread):
    """The store's newest metric id every 20 ms: when each id became visible."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        store = None
        while not self.stop.is_set():
            if store is None and self.path.exists():
                store = RunStore(self.path, readonly=True)
            if store is not None:
                try:
                    self.samples.append((time.time(), store.last_metric_id()))
                except Exception:  # the schema is being created
                    pass
            time.sleep(0.02)
        if store is not None:
            store.close()

    def committed_at(self, row_id: int) -> float | None:
        for t, top in self.samples:
            if top >= row_id:
                return t
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def train_seconds(runs_dir: Path, steps: int) -> float:
    subprocess.run([sys.executable, "-m", "learnsys", "train", "--steps", str(steps), "--no-ui", "--quiet",
                    "--runs-dir", str(runs_dir), "--run-id", RUN_ID], check=True, capture_output=True)
    store = RunStore(runs_dir / STORE_FILENAME, readonly=True)
    times = {e["kind"]: e["time"] for e in store.events(RUN_ID)}
    store.close()
    return times["end"] - times["start"]


def watched(runs_dir: Path, steps: int, viewers: int) -> dict:
    runs_dir.mkdir(parents=True)
    dash = start_dashboard(str(runs_dir))
    host, port = "127.0.0.1", int(dash.url.rsplit(":", 1)[1].strip("/"))
    sampler = Sampler(runs_dir / STORE_FILENAME)
    sampler.start()
    clients = [Viewer() for _ in range(viewers)]
    health: list[float] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main():
        await asyncio.gather(*(c.follow(host, port, stop) for c in clients), health_poller(host, port, stop, health))

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    server_cpu, client_cpu = cpu_seconds(dash.process.pid), time.process_time()
    thread.start()
    try:
        seconds = train_seconds(runs_dir, steps)
        server_cpu, client_cpu = cpu_seconds(dash.process.pid) - server_cpu, time.process_time() - client_cpu
        store = RunStore(runs_dir / STORE_FILENAME, readonly=True)
        final = store.last_metric_id()
        store.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and min((c.last_id for c in clients if not c.dropped), default=final) < final:
            time.sleep(0.05)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        sampler.stop.set()
        sampler.join()
        dash.close()
    lags = []
    for c in clients:
        for t, row_id in c.received:
            committed = sampler.committed_at(row_id)
            if committed is not None:
                lags.append(max(0.0, t - committed))
    final_at = sampler.committed_at(final)
    reached = [next((t for t, i in c.received if i >= final), None) for c in clients]
    end_lag = None if final_at is None or None in reached else max(reached) - final_at
    return {"seconds": seconds, "server_cpu": server_cpu, "client_cpu": client_cpu,
            "lag_p95": percentile(lags, 95), "lag_max": max(lags, default=0.0),
            "end_lag": end_lag, "health_p95": percentile(health, 95), "health_max": max(health, default=0.0),
            "rows": statistics.median(c.rows for c in clients), "out_of_order": sum(c.out_of_order for c in clients),
            "complete": sum(c.last_id >= final for c in clients), "dropped": sum(c.dropped for c in clients)}


def percentile(xs, q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, round(q / 100 * len(xs) + 0.5) - 1))]


def spread(xs) -> str:
    return f"median {statistics.median(xs):.3f} (min {min(xs):.3f}, max {max(xs):.3f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--steps", type=int, default=60_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="learnsys-bench-load-"))
    print(f"# dashboard load: lecture 5, {args.steps:,} steps, {args.viewers} SSE viewers + a health poller, "
          f"{args.reps} reps; python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print(f"start: {load()}")
    plain, results = [], []
    try:
        for rep in range(args.reps):
            order = ("plain", "watched") if rep % 2 == 0 else ("watched", "plain")
            for which in order:
                if which == "plain":
                    plain.append(train_seconds(tmp / f"plain{rep}", args.steps))
                else:
                    results.append(watched(tmp / f"watched{rep}", args.steps, args.viewers))
            r = results[-1]
            print(f"rep {rep + 1}: plain {plain[-1]:.2f} s, watched {r['seconds']:.2f} s "
                  f"({r['seconds'] / plain[-1]:.3f}x); dashboard CPU {r['server_cpu']:.2f} s, clients' CPU "
                  f"{r['client_cpu']:.2f} s; lag p95 {r['lag_p95']:.3f} s, max {r['lag_max']:.3f} s, "
                  f"end {r['end_lag'] if r['end_lag'] is None else round(r['end_lag'], 3)} s; health p95 "
                  f"{r['health_p95']:.1f} ms, max {r['health_max']:.1f} ms; {r['complete']}/{args.viewers} complete, "
                  f"{r['rows']:.0f} rows each, {r['out_of_order']} out of order, {r['dropped']} streams dropped", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = [r["seconds"] / p for r, p in zip(results, plain)]
    print(f"training alone: {spread(plain)} s")
    print(f"with {args.viewers} viewers: {spread([r['seconds'] for r in results])} s")
    print(f"ratio watched/alone (per rep): {spread(ratios)}x")
    print(f"lag p95: {spread([r['lag_p95'] for r in results])} s; end lag: "
          f"{spread([r['end_lag'] if r['end_lag'] is not None else float('inf') for r in results])} s")
    print(f"health p95: {spread([r['health_p95'] for r in results])} ms")
    print(f"dashboard process CPU per training second: {spread([r['server_cpu'] / r['seconds'] for r in results])}")
    print(f"end: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
