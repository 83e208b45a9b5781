"""The dashboard over a damaged or replaced run store: every API route answers a clear JSON
error (503 with one line naming the damage and `learnsys doctor`, or a 4xx), never a 500;
/api/health says what state the store is in; a store deleted and made again while the
server runs is noticed (a new inode) and served. Real SQLite files in a tmp dir, damaged
the way a disk or a user damages them; the SSE tests use a real `learnsys ui` process."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sqlite3
import time
import warnings
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx")
    from starlette.testclient import TestClient

from learnsys.store import STORE_FILENAME, RunStore
from learnsys.ui.app import create_app
from learnsys.ui.launch import start_dashboard

ROUTES = ["/api/runs", "/api/runs/r1", "/api/runs/r1/metrics", "/api/runs/r1/events", "/api/runs/r1/events?after=0",
          "/api/runs/r1/series?name=train/loss", "/api/runs/r1/series?name=train/loss&width=10&beta=0.5",
          "/api/runs/r1/artifacts", "/api/runs/r1/artifacts/search", "/api/runs/r1/csv"]
# (The stream is checked against a real server below: a TestClient waits for a body's end.)


def make_store(runs_dir: Path, run_id: str = "r1", steps: int = 4000, value=lambda s: 1.0 / s,
               alone: bool = True) -> Path:
    path = runs_dir / STORE_FILENAME
    store = RunStore(path)
    store.create_run(run_id, kind="train", spec={"lr": 0.1}, folder=str(runs_dir / run_id), status="stopped",
                     total_steps=steps)
    store.append_metrics(run_id, [(n, s, value(s)) for s in range(1, steps + 1) for n in ("train/loss", "lr")])
    store.add_event(run_id, 10, "checkpoint", "Checkpoint at step 10.")
    store.put_artifact(run_id, "search", {"w": [1, 2]})
    store.close()  # the last connection checkpoints the WAL into the file (when no server reads it)
    if alone:  # then damage done to the file is damage to the store
        assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


def truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 3)


def random_bytes(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:  # in place: a server holding the file open reads the garbage
        f.write(os.urandom(size))


def empty(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(0)


def drop(table: str):
    def damage(path: Path) -> None:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
        conn.close()
    damage.__name__ = f"drop_{table}"
    return damage


def bad_spec(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET spec = '{not json'")
    conn.commit()
    conn.close()


DAMAGES = [truncate, random_bytes, empty, drop("runs"), drop("series"), drop("chunks"), drop("chunk_data"),
           drop("events"), drop("artifacts")]


def age(path: Path, seconds: float = 60.0) -> None:
    """Date the file back: damage found in a store that has existed for a while (a young
    store without its tables is one being created; see test_a_store_being_created_...)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def client(runs_dir: Path) -> TestClient:
    return TestClient(create_app(runs_dir), base_url="http://127.0.0.1:8765")


def assert_clear_error(r, route: str) -> None:
    assert r.status_code != 500 and (r.status_code == 503 or 400 <= r.status_code < 500 or r.status_code == 200), \
        (route, r.status_code, r.text[:200])
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body["error"], str) and "\n" not in body["error"] and "Traceback" not in body["error"]
        if r.status_code == 503:
            assert "learnsys doctor" in body["error"] and STORE_FILENAME in body["error"], body


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("opened_before", [False, True], ids=["fresh-server", "server-already-reading"])
def test_a_damaged_store_is_a_clear_503_and_health_says_so(runs_dir: Path, damage, opened_before: bool):
    path = make_store(runs_dir)
    with client(runs_dir) as c:
        if opened_before:  # the server has connections open (and series cached) when the damage happens
            assert c.get("/api/runs/r1/series?name=train/loss").status_code == 200
            assert c.get("/api/health").json()["store"]["state"] == "ok"
        damage(path)
        age(path)
        health = c.get("/api/health")
        assert health.status_code == 503, health.text
        state = health.json()
        assert state["ok"] is False and state["store"]["state"] == "damaged"
        assert "learnsys doctor" in state["store"]["error"] and "\n" not in state["store"]["error"]
        statuses = {}
        for route in ROUTES:
            r = c.get(route)
            assert_clear_error(r, route)
            statuses[route] = r.status_code
        r = c.post("/api/runs/r1/predict", json={"rows": [[1.0]]})
        assert_clear_error(r, "predict")
        # What reads the damaged part says so; a cached series may still be served from memory.
        assert statuses["/api/runs"] == 503 or statuses["/api/runs/r1"] == 503 or statuses["/api/runs/r1/events"] == 503
        if damage is empty:
            assert "empty (0 bytes)" in c.get("/api/runs").json()["error"]


def test_health_reports_ok_missing_and_recovery(runs_dir: Path):
    with client(runs_dir) as c:
        r = c.get("/api/health")
        assert r.status_code == 200 and r.json()["ok"] is True and r.json()["store"]["state"] == "missing"
        path = make_store(runs_dir)
        r = c.get("/api/health").json()
        assert r["ok"] is True and r["store"] == {"state": "ok", "path": str(path.resolve()), "runs": 1}
        saved = path.read_bytes()
        empty(path)
        age(path)
        assert c.get("/api/health").json()["store"]["state"] == "damaged"
        path.write_bytes(saved)  # the same file repaired in place (what `learnsys doctor` may do)
        r = c.get("/api/health").json()
        assert r["store"]["state"] == "ok", r
        assert c.get("/api/runs/r1").status_code == 200


def test_a_store_being_created_is_starting_not_damaged(runs_dir: Path):
    """The first `learnsys train` creates the file, then its schema (in one transaction): a
    page open while the file is still empty is told to wait, not to run `learnsys doctor`."""
    runs_dir.mkdir(parents=True)
    path = runs_dir / STORE_FILENAME
    path.touch()
    with client(runs_dir) as c:
        health = c.get("/api/health")
        assert health.status_code == 200 and health.json()["store"]["state"] == "starting"
        r = c.get("/api/runs/r1")
        assert r.status_code == 503 and r.json()["store"] == "starting" and r.headers["retry-after"] == "1"
        assert "being created" in r.json()["error"] and "doctor" not in r.json()["error"]
        age(path)  # still so a minute later: that is damage
        assert c.get("/api/health").json()["store"]["state"] == "damaged"
        assert "learnsys doctor" in c.get("/api/runs/r1").json()["error"]



def test_a_store_seen_empty_that_grew_meanwhile_is_starting(runs_dir: Path):
    """The reader found the file empty; by the time it said why, the first train had written its
    schema (the file grew): still 'starting', as a young file is (a race seen once in CI)."""
    import sqlite3 as sq

    from learnsys.ui.reader import EMPTY, describe

    runs_dir.mkdir(parents=True)
    path = runs_dir / STORE_FILENAME
    path.write_bytes(b"SQLite format 3\0" + bytes(4080))        # no longer empty, and young
    assert describe(sq.DatabaseError(EMPTY), path).state == "starting"
    age(path)                                                    # a minute old: that is damage
    assert describe(sq.DatabaseError(EMPTY), path).state == "damaged"


def test_a_store_whose_schema_is_not_written_yet_has_no_runs(runs_dir: Path):
    """A SQLite file without tables (the schema's transaction has not committed): no runs yet.
    Then the schema and a run commit, into the WAL: the file itself does not change, and every
    request sees the run (a reader that kept its empty stand-in saw none for the whole run:
    the fan-out test's viewers got 404 'has a folder but no row')."""
    runs_dir.mkdir(parents=True)
    path = runs_dir / STORE_FILENAME
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    with client(runs_dir) as c:
        assert c.get("/api/health").json()["store"] == {"state": "ok", "path": str(runs_dir.resolve() / STORE_FILENAME),
                                                      "runs": 0}
        assert c.get("/api/runs").json() == []
        before = (path.stat().st_size, path.stat().st_mtime_ns)
        store = RunStore(path)
        store.create_run("r1", kind="train", spec={})
        assert (path.stat().st_size, path.stat().st_mtime_ns) == before  # all of it in the WAL
        for _ in range(8):  # whichever worker thread answers
            assert [r["id"] for r in c.get("/api/runs").json()] == ["r1"]
            assert c.get("/api/runs/r1").status_code == 200
        store.close()
    conn.close()


def test_a_damaged_run_row_is_one_damaged_run_not_a_damaged_store(runs_dir: Path):
    """A spec that is not JSON damages one run: the list shows it as 'damaged' naming
    `learnsys doctor`, every route answers clearly, the rest of the store is served."""
    path = make_store(runs_dir)
    make_store(runs_dir, "r2", alone=False)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET spec = '{not json' WHERE id = 'r1'")
    conn.commit()
    conn.close()
    with client(runs_dir) as c:
        runs = {r["id"]: r for r in c.get("/api/runs").json()}
        assert runs["r1"]["status"] == "damaged" and "learnsys doctor" in runs["r1"]["message"]
        assert runs["r2"]["status"] != "damaged" and c.get("/api/runs/r2").json()["spec"] == {"lr": 0.1}
        for route in ROUTES:
            assert_clear_error(c.get(route), route)
        assert c.get("/api/runs/r2/series?name=train/loss").json()["values"][0] == 1.0


def test_a_store_deleted_and_made_again_is_reopened(runs_dir: Path):
    """`rm -rf runs` and a new `learnsys train` while `learnsys ui` keeps running: the new
    file (a new inode) is served, not the deleted one, and the series cache starts over."""
    make_store(runs_dir, "r1", steps=500, value=lambda s: 1.0)
    with client(runs_dir) as c:
        for _ in range(8):  # on several worker threads, each with its own connection
            assert c.get("/api/runs/r1/series?name=train/loss").json()["values"][:2] == [1.0, 1.0]
        shutil.rmtree(runs_dir)
        assert c.get("/api/runs").json() == []
        assert c.get("/api/runs/r1").status_code == 404
        make_store(runs_dir, "r1", steps=300, value=lambda s: 2.0, alone=False)  # the same id, another run
        make_store_extra(runs_dir, "new-run")
        for _ in range(8):
            assert {r["id"] for r in c.get("/api/runs").json()} == {"r1", "new-run"}
            assert c.get("/api/runs/new-run").status_code == 200
            s = c.get("/api/runs/r1/series?name=train/loss").json()
            assert s["total"] == 300 and set(s["values"]) == {2.0}
        assert c.get("/api/health").json()["store"]["state"] == "ok"


def make_store_extra(runs_dir: Path, run_id: str) -> None:
    store = RunStore(runs_dir / STORE_FILENAME)
    store.create_run(run_id, kind="train", spec={}, status="finished")
    store.append_metrics(run_id, [("train/loss", 1, math.nan)])
    store.close()


# -- live streams (a real `learnsys ui` process) -------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _events(lines, want: str, timeout: float) -> dict:
    """The data of the next SSE message of kind `want` from the stream's line iterator."""
    deadline = time.monotonic() + timeout
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == want:
            return json.loads(line[6:])
        assert time.monotonic() < deadline, f"no {want!r} event within {timeout} s"
    raise AssertionError(f"the stream ended without a {want!r} event")


def test_a_stream_says_when_the_store_is_damaged_and_when_it_is_replaced(runs_dir: Path):
    path = make_store(runs_dir)
    saved = path.read_bytes()
    dash = start_dashboard(str(runs_dir), port=_free_port())
    try:
        base = dash.url.rstrip("/")
        with httpx.stream("GET", f"{base}/api/runs/r1/stream?last_id=0", timeout=20) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            assert _events(lines, "run", 10)["status"] == "stopped"
            random_bytes(path)
            age(path)
            problem = _events(lines, "store", 10)
            assert problem["ok"] is False and "learnsys doctor" in problem["error"]
            path.write_bytes(saved)
            assert _events(lines, "store", 10) == {"ok": True}
        with httpx.stream("GET", f"{base}/api/runs/r1/stream?last_id=0", timeout=20) as r:
            lines = r.iter_lines()
            assert _events(lines, "run", 10)["status"] == "stopped"
            shutil.rmtree(runs_dir)
            make_store(runs_dir, alone=False)
            assert "replaced" in _events(lines, "reset", 10)["reason"]
    finally:
        dash.close()
