"""Fan-out: many live viewers of one run are served from one read of the store per poll.

A real server (uvicorn on 127.0.0.1, in this process so the test can read the app's
counters) follows a real `learnsys train` at full speed with 20 SSE clients: 16 ask for
thinning as the page does, 4 take every row. Every full client receives every row of the
run, once, in id order, with the stored values; every thinning client receives rows in
id order, each exactly as stored, and each row it did not receive belongs to a series that
the message covering it names under "thinned". The store reads stay one per poll plus at
most a replay per client, however many clients there are.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from learnsys.store import STORE_FILENAME, RunStore
from learnsys.ui.app import create_app
from learnsys.ui.fanout import Batch, thin
from learnsys.ui.feed import _merged, metrics_message

VIEWERS, FULL = 20, 4
STEPS = 15_000
RUN_ID = "live"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Viewer(threading.Thread):
    """One SSE client: its messages as (id, rows, thinned names)."""

    def __init__(self, base: str, thinning: bool, stop: threading.Event):
        super().__init__(daemon=True)
        self.base, self.thinning, self.stop = base, thinning, stop
        self.start_id: int | None = None
        self.messages: list[tuple[int, list, list]] = []
        self.error: BaseException | None = None
        self.connected = threading.Event()  # a first event arrived: the server counts it as a subscriber
        self.kinds: list[str] = []          # the events it got, in order (printed when the test fails)

    @property
    def last_id(self) -> int:
        return self.messages[-1][0] if self.messages else (self.start_id or 0)

    def run(self) -> None:
        try:
            with httpx.Client(timeout=30) as client:
                deadline = time.monotonic() + 60
                while (r := client.get(f"{self.base}/api/runs/{RUN_ID}")).status_code != 200:
                    assert r.status_code == 404 or r.json()["store"] == "starting", r.text  # not there yet
                    assert time.monotonic() < deadline, "the run never appeared"
                    time.sleep(0.02)
                self.start_id = r.json()["last_metric_id"]
                url = f"{self.base}/api/runs/{RUN_ID}/stream?last_id={self.start_id}&thin={int(self.thinning)}"
                with client.stream("GET", url) as s:
                    assert s.status_code == 200, (s.status_code, s.read().decode())
                    fields: dict[str, str] = {}
                    for line in s.iter_lines():
                        if line:
                            key, _, value = line.partition(": ")
                            fields[key] = value
                            continue
                        if "event" in fields:
                            self.connected.set()
                            self.kinds.append(fields["event"])
                        if fields.get("event") == "metrics":
                            data = json.loads(fields["data"])
                            self.messages.append((int(fields["id"]), data["rows"], data.get("thinned", [])))
                        fields = {}
                        if self.stop.is_set():
                            return
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


@pytest.mark.slow
def test_twenty_viewers_share_one_read_per_poll_and_get_every_row_or_its_summary(runs_dir: Path):
    import uvicorn

    runs_dir.mkdir(parents=True)
    app = create_app(runs_dir)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    stop = threading.Event()
    viewers = [Viewer(f"http://127.0.0.1:{port}", i >= FULL, stop) for i in range(VIEWERS)]
    train = None
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        for v in viewers:
            v.start()
        train = subprocess.Popen([sys.executable, "-m", "learnsys", "train", "--steps", str(STEPS), "--no-ui",
                                  "--quiet", "--runs-dir", str(runs_dir), "--run-id", RUN_ID],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert train.wait(120) == 0, train.stderr.read().decode()
        store = RunStore(runs_dir / STORE_FILENAME, readonly=True)
        final = store.last_metric_id()
        deadline = time.monotonic() + 60
        while any((v.last_id < final or not v.connected.is_set()) and v.error is None for v in viewers):
            assert time.monotonic() < deadline, [(v.start_id, v.last_id, v.connected.is_set(), v.kinds[:6],
                                                  len(v.kinds), v.is_alive()) for v in viewers]
            time.sleep(0.05)
        for v in viewers:
            assert v.error is None, repr(v.error)
        hub = app.state.hub
        feed = hub.feeds[RUN_ID]
        assert feed.subscribers == VIEWERS and hub.started == 1  # one poller for all of them
        polls, client_reads = feed.polls, hub.client_reads
        stop.set()
        for v in viewers:
            assert v.error is None, v.error
            assert v.start_id is not None
            rows = store.metric_rows(RUN_ID, v.start_id)
            check_viewer(v, rows)
        store.close()
        # One read per poll for everyone; per client at most its replay (and a rare catch-up).
        assert client_reads <= 2 * VIEWERS, (client_reads, polls)
        assert polls > 20
        thinned = sum(bool(names) for v in viewers[FULL:] for _, _, names in v.messages)
        assert thinned > 0  # at full speed the thinning clients did get summaries
    finally:
        stop.set()
        if train is not None and train.poll() is None:
            train.kill()
        server.should_exit = True
        serving.join(15)


def check_viewer(v: Viewer, rows: list) -> None:
    by_id = {r[0]: r for r in rows}
    got = [r for _, rs, _ in v.messages for r in rs]
    ids = [r[0] for r in got]
    assert ids == sorted(set(ids)), "rows out of order or twice"
    for r in got:
        i, name, step, value = by_id[r[0]]
        assert r[1:3] == [name, step] and (r[3] == value or (r[3] is None and not math.isfinite(value)))
    if not v.thinning:
        assert ids == [r[0] for r in rows]
        assert not any(names for _, _, names in v.messages)
        return
    received = set(ids)
    previous = v.start_id
    for last, _, names in v.messages:  # each message covers the ids after the previous one, up to its own
        missing = [r for r in rows if previous < r[0] <= last and r[0] not in received]
        assert all(r[1] in names for r in missing), (previous, last, names, missing[:3])
        previous = last
    assert previous == rows[-1][0]


# -- the merge a client behind gets, against the thinning of all its rows at once ----------

def test_a_client_behind_gets_one_summary_that_keeps_what_thinning_everything_keeps():
    rows = [(i, "train/loss" if i % 2 else "lr", i // 2, 1.0 / i if i != 501 else math.nan) for i in range(1, 2001)]
    rows[700] = (701, "train/loss", 350, 50.0)  # a spike
    batches, after = [], 0
    for a in range(0, 2000, 300):  # seven polls' batches
        chunk = rows[a:a + 300]
        batches.append(Batch(after, chunk[-1][0], chunk))
        after = chunk[-1][0]
    merged = json.loads(_merged(batches, 0, True).split(b"data: ")[1])
    kept, names = thin(rows)
    want = json.loads(metrics_message(kept, names, 2000).split(b"data: ")[1])["rows"]
    assert all(r in merged["rows"] for r in want) and len(merged["rows"]) <= 5 * 2 * len(batches)
    assert [r[0] for r in merged["rows"]] == sorted({r[0] for r in merged["rows"]})
    assert sorted(merged["thinned"]) == sorted(names) == ["lr", "train/loss"]
    assert [701, "train/loss", 350, 50.0] in merged["rows"]  # the spike survives two thinnings
    assert [501, "train/loss", 250, None] in merged["rows"]  # and the first NaN
    full = _merged(batches, 1000, False)  # a full client from the middle of a batch: every row after it, once
    got = [r for part in full.split(b"\n\n") if b"data: " in part for r in json.loads(part.split(b"data: ")[1])["rows"]]
    assert [r[0] for r in got] == list(range(1001, 2001))
