"""The run store: one SQLite file (WAL mode) holding every run, its metric series and events.

It owns the schema and all SQL in learnsys. It does not import torch, so the dashboard and
the `runs`/`metrics` commands can read it without loading a deep-learning framework.

    store = RunStore("runs/learnsys.sqlite")
    store.create_run("lively-otter-1", kind="train", spec={...}, folder="runs/lively-otter-1")
    writer = StoreWriter(store.path)            # background thread: the loop never waits on disk
    writer.put_metrics("lively-otter-1", [("train/loss", 0, 1.5), ...])
    writer.flush()                              # barrier: everything put so far is committed
    store.series("lively-otter-1", "train/loss")   # -> (steps, values)

Values are floats; NaN is stored as NULL and read back as NaN. Metric rows have a
monotonically increasing `id` (AUTOINCREMENT, never reused), which the dashboard's
server-sent events use as the event id for replay.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import LearnsysError

SCHEMA_VERSION = 1
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
STORE_FILENAME = "learnsys.sqlite"
PID_FILENAME = "pid"  # in a run folder while a process trains it: {"pid", "host", "started"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,          -- 'train' | 'search' | 'landscape' | ...
    status      TEXT NOT NULL,          -- 'created' | 'running' | 'stopped' | 'finished' | 'failed'
    created     REAL NOT NULL,          -- unix time, seconds
    updated     REAL NOT NULL,
    folder      TEXT,                   -- the run folder, absolute path
    data        TEXT,                   -- data set name, for listings
    model       TEXT,                   -- model name, for listings
    spec        TEXT NOT NULL,          -- the RunSpec as JSON
    step        INTEGER NOT NULL DEFAULT 0,
    epoch       INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER,                -- planned number of steps, when known
    message     TEXT                    -- last status message (why it stopped, the error line)
);
CREATE TABLE IF NOT EXISTS series (
    id      INTEGER PRIMARY KEY,
    run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name    TEXT NOT NULL,              -- e.g. 'train/loss', 'dev/loss', 'lr', 'param/w'
    UNIQUE (run_id, name)
);
CREATE TABLE IF NOT EXISTS metrics (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    step      INTEGER NOT NULL,
    value     REAL                      -- NULL means NaN
);
CREATE INDEX IF NOT EXISTS metrics_by_series_step ON metrics (series_id, step);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step    INTEGER NOT NULL,
    time    REAL NOT NULL,
    kind    TEXT NOT NULL,              -- 'start' | 'checkpoint' | 'resume' | 'divergence' | 'stop' | 'end' | ...
    message TEXT NOT NULL,
    data    TEXT                        -- JSON, optional
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, id);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name    TEXT NOT NULL,              -- e.g. 'search', 'landscape', 'graph'
    updated REAL NOT NULL,
    data    TEXT NOT NULL,              -- JSON
    PRIMARY KEY (run_id, name)
);
"""


class StoreError(LearnsysError):
    """A problem with the store that the user can act on; args[0] is one line."""


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it is a safe name (no path separators, no traversal), else raise."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id) or ".." in run_id:
        raise StoreError(
            f"Invalid run id {run_id!r}: use letters, digits, '_', '-' and '.', starting with a letter or digit."
        )
    return run_id


def _from_db(value: float | None) -> float:
    return math.nan if value is None else value


def training_pid(folder: str | Path | None) -> int | None:
    """The pid in a run folder's pid file if that process is alive on this machine, else None."""
    if not folder:
        return None
    try:
        info = json.loads((Path(folder) / PID_FILENAME).read_text(encoding="utf-8"))
        pid, host = int(info["pid"]), info["host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host != socket.gethostname():
        return pid  # another machine's process: cannot check, so trust the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    state, started = _process_state(pid)
    if state == "Z":
        return None  # killed, not yet reaped by its parent
    if started is not None and started > float(info.get("started", 0)) + 5:
        return None  # the pid was reused (a reboot, a long time): not the process that wrote the file
    return pid


def _process_state(pid: int) -> tuple[str | None, float | None]:
    """A process's state letter and start time (unix time), from /proc on Linux; Nones elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return fields[0], time.time() - uptime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None, None


def live_status(status: str, folder: str | Path | None) -> str:
    """A stored status corrected for a killed process: 'running' whose pid file names a
    process that is gone (kill -9, a crash, a reboot) is 'interrupted'; `learnsys resume`
    continues it. Without a pid file (a writer other than `learnsys train`) it stays as stored."""
    if status == "running" and folder and (Path(folder) / PID_FILENAME).exists() and training_pid(folder) is None:
        return "interrupted"
    return status


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the store file with the settings every learnsys connection uses."""
    path = Path(path)
    if readonly:
        if not path.exists():
            raise StoreError(f"No run store at {path}: train a run first (`learnsys train`) or pass --runs-dir.")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0, check_same_thread=False)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"Cannot open the run store {path}: {e}. Check that the runs dir is writable.") from None
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class RunStore:
    """Reads and writes runs, series, metrics, events and artifacts in one SQLite file."""

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._conn = connect(self.path, readonly=readonly)
        self._lock = threading.Lock()
        self._series_ids: dict[tuple[str, str], int] = {}
        if not readonly and self._conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            with self._lock, self._conn:
                self._conn.executescript(_SCHEMA)
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._conn.close()

    # -- runs ---------------------------------------------------------------------------

    def create_run(self, run_id: str, *, kind: str, spec: dict, folder: str | None = None,
                   data: str | None = None, model: str | None = None, total_steps: int | None = None,
                   status: str = "created") -> None:
        check_run_id(run_id)
        now = time.time()
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO runs (id, kind, status, created, updated, folder, data, model, spec, total_steps)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, kind, status, now, now, folder, data, model, json.dumps(spec), total_steps),
            )

    def update_run(self, run_id: str, **fields: Any) -> None:
        allowed = {"status", "step", "epoch", "total_steps", "message", "spec"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"update_run: unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "spec" in fields:
            fields["spec"] = json.dumps(fields["spec"])
        fields["updated"] = time.time()
        names = ", ".join(f"{k} = ?" for k in fields)
        with self._lock, self._conn:
            self._conn.execute(f"UPDATE runs SET {names} WHERE id = ?", (*fields.values(), run_id))

    def run(self, run_id: str) -> dict:
        """One run as a dict, with its last train/dev loss; raises StoreError if unknown."""
        check_run_id(run_id)
        rows = self._run_rows("WHERE r.id = ?", (run_id,))
        if not rows:
            raise StoreError(f"No run {run_id!r} in {self.path}. `learnsys runs` lists the runs there.")
        return rows[0]

    def runs(self) -> list[dict]:
        """Every run, newest first."""
        return self._run_rows("", ())

    def _run_rows(self, where: str, params: tuple) -> list[dict]:
        last = ("(SELECT m.value FROM metrics m JOIN series s ON s.id = m.series_id "
                "WHERE s.run_id = r.id AND s.name = '{}' ORDER BY m.step DESC, m.id DESC LIMIT 1)")
        sql = (f"SELECT r.id, r.kind, r.status, r.created, r.updated, r.folder, r.data, r.model, r.spec,"
               f" r.step, r.epoch, r.total_steps, r.message, {last.format('train/loss')}, {last.format('dev/loss')}"
               f" FROM runs r {where} ORDER BY r.created DESC, r.id DESC")
        out = []
        for row in self._conn.execute(sql, params).fetchall():
            (rid, kind, status, created, updated, folder, data, model, spec,
             step, epoch, total, message, train_loss, dev_loss) = row
            out.append({
                "id": rid, "kind": kind, "status": live_status(status, folder) if kind == "train" else status,
                "created": created, "updated": updated,
                "folder": folder, "data": data, "model": model, "spec": json.loads(spec),
                "step": step, "epoch": epoch, "total_steps": total, "message": message,
                "train_loss": None if train_loss is None else train_loss,
                "dev_loss": None if dev_loss is None else dev_loss,
            })
        return out

    # -- metrics ------------------------------------------------------------------------

    def _series_id(self, run_id: str, name: str) -> int:
        key = (run_id, name)
        sid = self._series_ids.get(key)
        if sid is None:
            self._conn.execute("INSERT OR IGNORE INTO series (run_id, name) VALUES (?, ?)", key)
            sid = self._conn.execute("SELECT id FROM series WHERE run_id = ? AND name = ?", key).fetchone()[0]
            self._series_ids[key] = sid
        return sid

    def append_metrics(self, run_id: str, rows: Iterable[tuple[str, int, float]]) -> None:
        """Insert (name, step, value) rows for one run in one transaction (SQLite stores NaN as NULL)."""
        rows = list(rows)
        with self._lock, self._conn:
            ids = {name: self._series_id(run_id, name) for name in {r[0] for r in rows}}
            self._conn.executemany("INSERT INTO metrics (series_id, step, value) VALUES (?, ?, ?)",
                                   [(ids[name], step, value) for name, step, value in rows])

    def append_series(self, run_id: str, series: dict[str, tuple[Sequence[int], Sequence[float]]]) -> None:
        """Insert columns `name -> (steps, values)` for one run in one transaction.

        Each column goes in as one JSON text and one statement: Python holds the GIL only for
        `json.dumps` (C), and SQLite does the rest with the GIL released, once per column, so a
        writer thread beside a training loop barely competes with it. JSON has no NaN or
        infinity: NaN becomes null (stored as NULL, read back as NaN) and ±Infinity becomes
        ±1e999, which SQLite reads as ±inf. Values round-trip exactly (repr, then SQLite's parser)."""
        with self._lock, self._conn:
            for name, (steps, values) in series.items():
                text = json.dumps(list(zip(steps, values))).replace("NaN", "null").replace("Infinity", "1e999")
                self._conn.execute("INSERT INTO metrics (series_id, step, value) "
                                   "SELECT ?, value ->> 0, value ->> 1 FROM json_each(?)",
                                   (self._series_id(run_id, name), text))

    def truncate_after(self, run_id: str, step: int) -> int:
        """Drop metric rows with step > `step` (rows a dead process logged after its last
        checkpoint); return how many were dropped."""
        with self._lock, self._conn:
            cur = self._conn.execute(
                "DELETE FROM metrics WHERE step > ? AND series_id IN (SELECT id FROM series WHERE run_id = ?)",
                (int(step), run_id),
            )
            return cur.rowcount

    def metric_names(self, run_id: str) -> list[str]:
        rows = self._conn.execute("SELECT name FROM series WHERE run_id = ? ORDER BY name", (run_id,))
        return [r[0] for r in rows]

    def series(self, run_id: str, name: str, start: int | None = None,
               stop: int | None = None) -> tuple[list[int], list[float]]:
        """(steps, values) of one series, ordered by step, optionally limited to start <= step <= stop."""
        sql = ("SELECT m.step, m.value FROM metrics m JOIN series s ON s.id = m.series_id"
               " WHERE s.run_id = ? AND s.name = ?")
        params: list[Any] = [run_id, name]
        if start is not None:
            sql += " AND m.step >= ?"
            params.append(int(start))
        if stop is not None:
            sql += " AND m.step <= ?"
            params.append(int(stop))
        sql += " ORDER BY m.step, m.id"
        rows = self._conn.execute(sql, params).fetchall()
        return [r[0] for r in rows], [_from_db(r[1]) for r in rows]

    def metric_rows(self, run_id: str, after_id: int = 0, limit: int | None = None) -> list[tuple[int, str, int, float]]:
        """(id, name, step, value) rows with id > after_id, in id order: the feed for live updates."""
        # `+m.series_id` keeps SQLite on the id range (the new rows) instead of scanning the
        # run's whole series through metrics_by_series_step: 0.1 ms instead of 100 ms at 1M steps.
        sql = ("SELECT m.id, s.name, m.step, m.value FROM metrics m JOIN series s ON s.id = +m.series_id"
               " WHERE s.run_id = ? AND m.id > ? ORDER BY m.id")
        params: list[Any] = [run_id, int(after_id)]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [(i, n, s, _from_db(v)) for i, n, s, v in self._conn.execute(sql, params).fetchall()]

    def last_metric_id(self) -> int:
        """The highest metric row id in the store (0 if none): where a live feed starts."""
        # A bare MAX(id) is answered from the b-tree's end; wrapping it (COALESCE) would scan.
        return self._conn.execute("SELECT MAX(id) FROM metrics").fetchone()[0] or 0

    def series_rows(self, run_id: str, name: str, after_id: int = 0,
                    upto_id: int | None = None) -> list[tuple[int, float | None]]:
        """(step, value) rows of one series with after_id < id <= upto_id, ordered by step then id.

        Values are returned as stored (None means NaN) so callers can build arrays quickly.
        With after_id > 0 the rows are found by id range, which is fast for recent rows: the
        dashboard's series cache loads a series once and then asks only for what is new.
        """
        row = self._conn.execute("SELECT id FROM series WHERE run_id = ? AND name = ?", (run_id, name)).fetchone()
        if row is None:
            return []
        upto = self.last_metric_id() if upto_id is None else int(upto_id)
        if after_id > 0:
            sql = ("SELECT step, value FROM metrics WHERE id > ? AND id <= ? AND +series_id = ?"
                   " ORDER BY step, id")
            return self._conn.execute(sql, (int(after_id), upto, row[0])).fetchall()
        sql = "SELECT step, value FROM metrics WHERE series_id = ? AND id <= ? ORDER BY step, id"
        return self._conn.execute(sql, (row[0], upto)).fetchall()

    def all_metrics(self, run_id: str) -> list[tuple[int, str, float]]:
        """Every (step, name, value) of a run, ordered by step then name: the full history."""
        rows = self._conn.execute(
            "SELECT m.step, s.name, m.value FROM metrics m JOIN series s ON s.id = m.series_id"
            " WHERE s.run_id = ? ORDER BY m.step, s.name, m.id", (run_id,)).fetchall()
        return [(s, n, _from_db(v)) for s, n, v in rows]

    # -- events and artifacts -----------------------------------------------------------

    def add_event(self, run_id: str, step: int, kind: str, message: str, data: dict | None = None,
                  at: float | None = None) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO events (run_id, step, time, kind, message, data) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, int(step), time.time() if at is None else at, kind, message,
                 None if data is None else json.dumps(data)),
            )

    def events(self, run_id: str, after_id: int = 0) -> list[dict]:
        rows = self._conn.execute(
            "SELECT id, step, time, kind, message, data FROM events WHERE run_id = ? AND id > ? ORDER BY id",
            (run_id, int(after_id))).fetchall()
        return [{"id": i, "step": s, "time": t, "kind": k, "message": m, "data": None if d is None else json.loads(d)}
                for i, s, t, k, m, d in rows]

    def put_artifact(self, run_id: str, name: str, data: Any) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO artifacts (run_id, name, updated, data) VALUES (?, ?, ?, ?)",
                (run_id, name, time.time(), json.dumps(data)))

    def artifact(self, run_id: str, name: str) -> Any | None:
        row = self._conn.execute("SELECT data FROM artifacts WHERE run_id = ? AND name = ?", (run_id, name)).fetchone()
        return None if row is None else json.loads(row[0])

    def artifact_names(self, run_id: str) -> list[str]:
        rows = self._conn.execute("SELECT name FROM artifacts WHERE run_id = ? ORDER BY name", (run_id,))
        return [r[0] for r in rows]


class StoreWriter:
    """Writes metric rows and events to the store on a background thread, in batches.

    `put_metrics`/`put_event` only append to a queue, so the training loop never waits on
    disk. `flush()` is a barrier: when it returns, everything put before it is committed.
    A write error is kept and raised from the next `flush()`/`close()`, never lost silently.
    """

    def __init__(self, store_path: str | Path):
        self._store_path = Path(store_path)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        # Opened here, on the caller's thread, so the connection's set-up does not run beside
        # the first steps of a training loop (check_same_thread is off for store connections).
        self._store = RunStore(self._store_path)
        self._thread = threading.Thread(target=self._work, name="learnsys-store-writer", daemon=True)
        self._thread.start()

    def put_metrics(self, run_id: str, rows: Sequence[tuple[str, int, float]]) -> None:
        self._queue.put(("metrics", run_id, rows))

    def put_series(self, run_id: str, series: dict[str, tuple[Sequence[int], Sequence[float]]]) -> None:
        self._queue.put(("series", run_id, series))

    def put_event(self, run_id: str, step: int, kind: str, message: str, data: dict | None = None) -> None:
        self._queue.put(("event", run_id, (step, kind, message, data, time.time())))

    def put_run_update(self, run_id: str, **fields: Any) -> None:
        self._queue.put(("run", run_id, fields))

    def flush(self, timeout: float = 60.0) -> None:
        done = threading.Event()
        self._queue.put(("barrier", None, done))
        if not done.wait(timeout):
            raise StoreError(f"The run store {self._store_path} did not commit within {timeout:.0f} s.")
        self._raise_error()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(("close", None, None))
            self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise StoreError(f"Writing to the run store {self._store_path} failed: {error}")

    def _work(self) -> None:
        store = self._store
        try:
            while True:
                items = [self._queue.get()]
                while True:  # drain whatever else is waiting: one transaction per batch
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                closing = self._write(store, items)
                if closing:
                    return
        finally:
            store.close()

    def _write(self, store: RunStore, items: list) -> bool:
        closing = False
        barriers = []
        for kind, run_id, payload in items:
            try:
                if kind == "series":
                    store.append_series(run_id, payload)
                elif kind == "metrics":
                    store.append_metrics(run_id, payload)
                elif kind == "event":
                    step, ev_kind, message, data, at = payload
                    store.add_event(run_id, step, ev_kind, message, data, at=at)
                elif kind == "run":
                    store.update_run(run_id, **payload)
                elif kind == "barrier":
                    barriers.append(payload)
                elif kind == "close":
                    closing = True
            except Exception as e:  # kept and re-raised on the loop's thread at the next flush
                self._error = e
        for done in barriers:
            done.set()
        return closing
