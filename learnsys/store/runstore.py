"""RunStore: read and write runs, metric series, events and artifacts in one SQLite file.

    store = RunStore("runs/learnsys.sqlite")              # readonly=True: never writes
    store.create_run("lively-otter-1", kind="train", spec={...}, folder="runs/lively-otter-1")
    store.append_series("lively-otter-1", {"train/loss": ([1, 2], [1.5, 1.2])})
    store.series_arrays("lively-otter-1", "train/loss")   # -> (steps int64, values float64) numpy arrays

Values are float64; NaN and infinities round-trip. Every metric row has an id that increases
and is never reused (chunks.py); `metric_rows(run, after_id)` is the live feed by id. Every
method raises StoreError (one line: what, which file, what to do), never a raw sqlite3 error.

A run that has a folder under the store's runs dir but no row (the store was deleted, or a
creation was killed between making the folder and its row) gets its row back from the folder
the first time something writes to it (recover.py): resume, landscape and graph just work.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..errors import RunIdError, StoreError
from . import chunks
from .lock import live_status
from .names import check_run_id
from .recover import REBUILT, row_from_folder, run_folders
from .schema import doctor_hint, open_store, store_error

RUN_FIELDS = ("status", "step", "epoch", "total_steps", "message", "spec")


def _guarded(doing: str):
    """Turn any sqlite3/JSON/overflow error of a method into one StoreError line."""
    def wrap(method):
        @functools.wraps(method)
        def inner(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, json.JSONDecodeError, OverflowError) as e:
                raise store_error(self.path, e, doing) from None
        return inner
    return wrap


class RunStore:
    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._conn = open_store(self.path, readonly=readonly)
        self._lock = threading.Lock()
        self._series_ids: dict[tuple[str, str], int] = {}
        self._small: dict[int, list[int]] = {}   # series id -> small chunks this store wrote, to merge

    def close(self) -> None:
        self._conn.close()

    @property
    def stand_in(self) -> bool:
        """Whether this reader reads an empty store in memory that stands for a file with no
        schema in it yet: none, empty, or being made (schema.open_store). A schema-1 file
        upgraded into a copy in memory, with its runs, is not one."""
        with self._lock:
            return (self._conn.execute("PRAGMA database_list").fetchone()[2] == ""
                    and self._conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None)

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Several reads that must see one state of the file (a writer may commit between them)."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.rollback()

    def _writing(self, run_id: str, write) -> Any:
        """Run `write(conn)` in one transaction; a run the store has lost is rebuilt from its folder."""
        try:
            with self._lock, self._conn:
                return write(self._conn)
        except sqlite3.IntegrityError as e:
            if "FOREIGN KEY" not in str(e):
                raise
            if not self.adopt(run_id):
                raise StoreError(f"No run {run_id!r} in {self.path}, and no run folder {self.path.parent / run_id} "
                                 "to rebuild it from. `learnsys runs` lists the runs there.") from None
        with self._lock, self._conn:
            return write(self._conn)

    # -- runs -----------------------------------------------------------------------------

    @_guarded("creating the run's row")
    def create_run(self, run_id: str, *, kind: str, spec: dict, folder: str | None = None,
                   data: str | None = None, model: str | None = None, total_steps: int | None = None,
                   status: str = "created", event: str | None = None, before_commit=None) -> None:
        """Insert a run's row (and its 'start' event, when `event` is given) in one transaction;
        `before_commit()` runs inside it (RunFolder.create renames the folder into place there)."""
        check_run_id(run_id)
        total_steps = chunks.check_int("total_steps", total_steps)
        spec_text = json.dumps(spec)
        now = time.time()
        try:
            with self._lock, self._conn:
                self._conn.execute("INSERT INTO runs (id, kind, status, created, updated, folder, data, model, spec,"
                                   " total_steps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   (run_id, kind, status, now, now, folder, data, model, spec_text, total_steps))
                if event is not None:
                    self._conn.execute("INSERT INTO events (run_id, step, time, kind, message) VALUES (?, 0, ?, "
                                       "'start', ?)", (run_id, now, event))
                if before_commit is not None:
                    before_commit()
        except BaseException as e:
            if self._conn.in_transaction:  # a failed COMMIT (a full disk) leaves it open
                self._conn.rollback()
            if not isinstance(e, sqlite3.IntegrityError) or "UNIQUE" not in str(e):
                raise
            raise RunIdError(f"Run id {run_id!r} is taken: the store {self.path} already has a run of that name. "
                             "Choose another --run-id.") from None

    def adopt(self, run_id: str, reason: str = REBUILT) -> bool:
        """Give a run that has a folder beside the store, but no row, its row back from the folder.
        False when there is no such folder; True when the row exists afterwards."""
        folder = self.path.parent / check_run_id(run_id)
        row = row_from_folder(folder) if folder.is_dir() else None
        if row is None:
            return False
        with self._lock, self._conn:
            self._conn.execute("INSERT OR IGNORE INTO runs (id, kind, status, created, updated, folder, data, model,"
                               " spec, step, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (row["id"], row["kind"], row["status"], row["created"], time.time(), row["folder"],
                                row["data"], row["model"], json.dumps(row["spec"], default=str), row["step"], reason))
        return True

    @_guarded("updating the run's row")
    def update_run(self, run_id: str, **fields: Any) -> None:
        unknown = set(fields) - set(RUN_FIELDS)
        if unknown:
            raise ValueError(f"update_run: unknown fields {sorted(unknown)}; allowed: {sorted(RUN_FIELDS)}")
        for name in ("step", "epoch", "total_steps"):
            if name in fields:
                fields[name] = chunks.check_int(name, fields[name])
        if "spec" in fields:
            fields["spec"] = json.dumps(fields["spec"])
        fields["updated"] = time.time()
        sql = f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?"
        with self._lock, self._conn:
            done = self._conn.execute(sql, (*fields.values(), run_id)).rowcount
        if not done and self.adopt(run_id):
            with self._lock, self._conn:
                self._conn.execute(sql, (*fields.values(), run_id))

    @_guarded("reading a run")
    def run(self, run_id: str) -> dict:
        """One run as a dict, with its last train/dev loss; raises StoreError if unknown or damaged."""
        check_run_id(run_id)
        rows = self._run_rows("WHERE r.id = ?", (run_id,))
        if not rows:
            if any(p.name == run_id for p in run_folders(self.path.parent)):
                raise StoreError(f"Run {run_id!r} has a folder in {self.path.parent} but no row in its store: run "
                                 f"`learnsys doctor --runs-dir {self.path.parent}` to rebuild the store's rows from "
                                 "the run folders.")
            raise StoreError(f"No run {run_id!r} in {self.path}. `learnsys runs` lists the runs there.")
        if rows[0]["spec"] is None:
            raise StoreError(f"The run store {self.path} is damaged: the spec of run {run_id!r} is not valid JSON. "
                             + doctor_hint(self.path))
        return rows[0]

    @_guarded("listing the runs")
    def runs(self) -> list[dict]:
        """Every run, newest first (a run whose row is damaged has status 'damaged')."""
        return self._run_rows("", ())

    @_guarded("listing the runs")
    def unlisted_folders(self) -> list[str]:
        """Ids of run folders beside the store that have no row in it (`learnsys doctor` adds them)."""
        with self._lock:
            known = {r[0] for r in self._conn.execute("SELECT id FROM runs")}
        return [p.name for p in run_folders(self.path.parent) if p.name not in known]

    def _run_rows(self, where: str, params: tuple) -> list[dict]:
        sql = (f"SELECT r.id, r.kind, r.status, r.created, r.updated, r.folder, r.data, r.model, r.spec,"
               f" r.step, r.epoch, r.total_steps, r.message FROM runs r {where} ORDER BY r.created DESC, r.id DESC")
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        out = []
        for rid, kind, status, created, updated, folder, data, model, spec, step, epoch, total, message in rows:
            try:
                spec = json.loads(spec)
            except (TypeError, ValueError):
                spec, status, message = None, "damaged", "its row in the store is damaged: `learnsys doctor` rebuilds it"
            out.append({
                "id": rid, "kind": kind, "status": live_status(status, folder) if kind == "train" else status,
                "created": created, "updated": updated, "folder": folder, "data": data, "model": model,
                "spec": spec, "step": step, "epoch": epoch, "total_steps": total, "message": message,
                "train_loss": self._last_value(rid, "train/loss"), "dev_loss": self._last_value(rid, "dev/loss"),
            })
        return out

    def _last_value(self, run_id: str, name: str) -> float | None:
        """The value at the highest step of one series (None when there is none, or it is NaN)."""
        sid = self._find_series(run_id, name)
        if sid is None:
            return None
        with self._lock:
            row = self._conn.execute("SELECT step_hi FROM chunks WHERE series_id = ? ORDER BY step_hi DESC LIMIT 1",
                                     (sid,)).fetchone()
            if row is None:
                return None
            _, steps, values = chunks.series(self._conn, sid, start=row[0])
        value = float(values[-1]) if values.size else math.nan
        return None if math.isnan(value) else value

    # -- metrics --------------------------------------------------------------------------

    def _find_series(self, run_id: str, name: str) -> int | None:
        sid = self._series_ids.get((run_id, name))
        if sid is None:
            with self._lock:
                row = self._conn.execute("SELECT id FROM series WHERE run_id = ? AND name = ?",
                                         (run_id, name)).fetchone()
            if row is None:
                return None
            sid = self._series_ids[(run_id, name)] = row[0]
        return sid

    def _series_id(self, conn: sqlite3.Connection, run_id: str, name: str) -> int:
        conn.execute("INSERT OR IGNORE INTO series (run_id, name) VALUES (?, ?)", (run_id, name))
        return conn.execute("SELECT id FROM series WHERE run_id = ? AND name = ?", (run_id, name)).fetchone()[0]

    @_guarded("writing metrics")
    def append_series(self, run_id: str, series: dict[str, tuple[Sequence[int], Sequence[float]]]) -> None:
        """Store columns `name -> (steps, values)` of one run in one transaction, a chunk per column."""
        arrays = {name: chunks.as_arrays(s, v) for name, (s, v) in series.items()}
        arrays = {name: sv for name, sv in arrays.items() if sv[0].size}
        if not arrays:
            return

        def write(conn: sqlite3.Connection) -> None:
            for name, (steps, values) in arrays.items():
                sid = self._series_id(conn, run_id, name)
                for cid, n in chunks.insert(conn, run_id, sid, steps, values):
                    if n < chunks.SMALL:
                        self._small.setdefault(sid, []).append(cid)
                    else:  # merge only chunks that follow each other
                        self._small[sid] = []
                small = self._small.get(sid, [])
                if len(small) >= chunks.MERGE_AT:
                    merged = chunks.merge(conn, run_id, sid, small)
                    self._small[sid] = [merged[0]] if merged and merged[1] < chunks.SMALL else []

        try:
            self._writing(run_id, write)
        except BaseException:
            self._small.clear()  # the transaction rolled back: those chunk ids mean nothing
            raise

    def append_metrics(self, run_id: str, rows: Iterable[tuple[str, int, float]]) -> None:
        """Insert (name, step, value) rows of one run (grouped into one column per name)."""
        columns: dict[str, tuple[list, list]] = {}
        for name, step, value in rows:
            steps, values = columns.setdefault(name, ([], []))
            steps.append(step)
            values.append(value)
        self.append_series(run_id, columns)

    @_guarded("dropping metrics after a checkpoint")
    def truncate_after(self, run_id: str, step: int) -> int:
        """Drop metric rows with step > `step` (rows a dead process logged after its last
        checkpoint); return how many were dropped."""
        with self._lock, self._conn:
            return chunks.truncate(self._conn, run_id, step)

    @_guarded("reading metric names")
    def metric_names(self, run_id: str) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT name FROM series WHERE run_id = ? ORDER BY name",
                                                     (run_id,))]

    @_guarded("reading a series")
    def series_arrays(self, run_id: str, name: str, after_id: int = 0, upto_id: int | None = None,
                      start: int | None = None, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps int64, values float64) of one series, ordered by step (then id), limited to
        after_id < id <= upto_id and start <= step <= stop: the fast path (a few reads per chunk)."""
        sid = self._find_series(run_id, name)
        if sid is None:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        with self._lock:
            _, steps, values = chunks.series(self._conn, sid, after_id, upto_id, start, stop)
        return steps, values

    def series(self, run_id: str, name: str, start: int | None = None,
               stop: int | None = None) -> tuple[list[int], list[float]]:
        """(steps, values) of one series as lists, optionally limited to start <= step <= stop."""
        steps, values = self.series_arrays(run_id, name, start=start, stop=stop)
        return steps.tolist(), values.tolist()

    def series_rows(self, run_id: str, name: str, after_id: int = 0,
                    upto_id: int | None = None) -> list[tuple[int, float | None]]:
        """(step, value) rows of one series with after_id < id <= upto_id, ordered by step then id;
        None for NaN. Prefer `series_arrays` (the same rows as numpy arrays, without the tuples)."""
        steps, values = self.series_arrays(run_id, name, after_id, upto_id)
        nan = np.isnan(values)
        if nan.any():
            values = values.astype(object)
            values[nan] = None
        return list(zip(steps.tolist(), values.tolist()))

    @_guarded("reading new metric rows")
    def metric_rows(self, run_id: str, after_id: int = 0,
                    limit: int | None = None) -> list[tuple[int, str, int, float]]:
        """(id, name, step, value) rows with id > after_id, in id order: the feed for live updates."""
        with self._snapshot() as conn:
            ids, sids, steps, values = chunks.rows_after(conn, run_id, after_id, limit)
            names = dict(conn.execute("SELECT id, name FROM series WHERE run_id = ?", (run_id,)).fetchall())
        return [(i, names[s], st, v) for i, s, st, v in zip(ids.tolist(), sids.tolist(), steps.tolist(),
                                                             values.tolist())]

    @_guarded("reading the last metric id")
    def last_metric_id(self) -> int:
        """The highest metric row id handed out so far (0 if none): where a live feed starts."""
        with self._lock:
            return self._conn.execute("SELECT value FROM counters WHERE name = 'metric_id'").fetchone()[0] - 1

    @_guarded("reading a run's history")
    def all_metrics(self, run_id: str) -> list[tuple[int, str, float]]:
        """Every (step, name, value) of a run, ordered by step, then name, then id: the full history."""
        names = self.metric_names(run_id)
        parts = []
        with self._snapshot() as conn:
            for rank, name in enumerate(names):
                sid = conn.execute("SELECT id FROM series WHERE run_id = ? AND name = ?", (run_id, name)).fetchone()[0]
                ids, steps, values = chunks.series(conn, sid, with_ids=True)
                parts.append((ids, steps, values, np.full(ids.size, rank)))
        if not parts:
            return []
        ids, steps, values, ranks = (np.concatenate(p) for p in zip(*parts))
        order = np.lexsort((ids, ranks, steps))
        return [(s, names[r], v) for s, r, v in zip(steps[order].tolist(), ranks[order].tolist(),
                                                    values[order].tolist())]

    # -- events and artifacts -------------------------------------------------------------

    @_guarded("writing an event")
    def add_event(self, run_id: str, step: int, kind: str, message: str, data: dict | None = None,
                  at: float | None = None) -> None:
        values = (run_id, chunks.check_int("step", step), time.time() if at is None else at, kind, message,
                  None if data is None else json.dumps(data))
        self._writing(run_id, lambda conn: conn.execute(
            "INSERT INTO events (run_id, step, time, kind, message, data) VALUES (?, ?, ?, ?, ?, ?)", values))

    @_guarded("reading events")
    def events(self, run_id: str, after_id: int = 0) -> list[dict]:
        with self._lock:
            rows = self._conn.execute("SELECT id, step, time, kind, message, data FROM events WHERE run_id = ? AND "
                                      "id > ? ORDER BY id", (run_id, chunks.check_int("after_id", after_id))).fetchall()
        return [{"id": i, "step": s, "time": t, "kind": k, "message": m, "data": None if d is None else json.loads(d)}
                for i, s, t, k, m, d in rows]

    @_guarded("writing an artifact")
    def put_artifact(self, run_id: str, name: str, data: Any) -> None:
        values = (run_id, name, time.time(), json.dumps(data))
        self._writing(run_id, lambda conn: conn.execute(
            "INSERT OR REPLACE INTO artifacts (run_id, name, updated, data) VALUES (?, ?, ?, ?)", values))

    @_guarded("reading an artifact")
    def artifact(self, run_id: str, name: str) -> Any | None:
        with self._lock:
            row = self._conn.execute("SELECT data FROM artifacts WHERE run_id = ? AND name = ?",
                                     (run_id, name)).fetchone()
        return None if row is None else json.loads(row[0])

    @_guarded("reading artifact names")
    def artifact_names(self, run_id: str) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT name FROM artifacts WHERE run_id = ? ORDER BY name",
                                                     (run_id,))]
