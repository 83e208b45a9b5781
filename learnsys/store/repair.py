"""`learnsys doctor`: check the run store and rebuild its run rows from the run folders.

The run folders (spec, meta.json, checkpoints) are the source of truth; the store holds what
only it can (metric history, events, artifacts). `repair(runs_dir)`:

1. refuses while any run is being trained (it may move the store aside under a writer);
2. checks the store file (opens, schema, `PRAGMA integrity_check`); a damaged file is moved
   aside (`learnsys.sqlite.damaged-<time>`, with its -wal/-shm), never deleted, and a new
   store is made;
3. copies from the damaged file what can still be read, run by run and table by table;
4. gives every run folder a row (from the folder when nothing better survived), fixes rows
   whose spec is not valid JSON, and removes half-made folders of killed creations;
5. returns a few lines saying what it found, what it recovered and what is lost.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

from ..errors import LearnsysError, RunInUseError, StoreError
from . import chunks
from .lock import in_use_message, lock_holder
from .names import NEW_FOLDER_PREFIX, STORE_FILENAME
from .recover import half_made_folders, row_from_folder, run_folders
from .runstore import RunStore
from .schema import SCHEMA_VERSION, TABLES, _connect_readonly


def check_file(path: Path) -> str | None:
    """What is wrong with a store file (None: nothing, or there is no file)."""
    if not path.exists():
        return None
    if path.stat().st_size == 0:
        return "empty file: no tables"
    try:
        conn = _connect_readonly(path)
    except sqlite3.Error as e:
        return "not an SQLite database" if "not a database" in str(e) else f"cannot be opened: {e}"
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        needed = TABLES if version == SCHEMA_VERSION else ("runs", "series", "metrics", "events", "artifacts")
        missing = [t for t in needed if t not in tables]
        if version > SCHEMA_VERSION:
            return None  # a newer learnsys's store: not ours to judge
        if missing:
            return f"table(s) {', '.join(missing)} missing"
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
        return None if problems == ["ok"] else f"integrity check: {'; '.join(problems)[:200]}"
    except sqlite3.Error as e:
        return "not an SQLite database" if "not a database" in str(e) else str(e)
    finally:
        conn.close()


def _move_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{aside}{suffix}")
    return aside


def _salvage(aside: Path, store: RunStore, run_ids: list[str]) -> tuple[dict[str, dict], list[str], list[str]]:
    """Rows, metrics, events and artifacts of `run_ids` still readable in a damaged file:
    ({run id: its old row}, runs whose metrics were copied, runs whose metrics are lost)."""
    rows: dict[str, dict] = {}
    copied, lost = [], []
    try:
        old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True, timeout=10.0)
        old.execute("SELECT 1 FROM sqlite_master").fetchall()
    except sqlite3.Error:
        return rows, copied, list(run_ids)
    version = _try(lambda: old.execute("PRAGMA user_version").fetchone()[0], 0)
    for run_id in run_ids:
        row = _try(lambda: old.execute("SELECT kind, status, created, folder, data, model, spec, step, epoch, "
                                       "total_steps, message FROM runs WHERE id = ?", (run_id,)).fetchone(), None)
        if row is not None and _try(lambda: json.loads(row[6]), None) is not None:
            rows[run_id] = dict(zip(("kind", "status", "created", "folder", "data", "model", "spec", "step", "epoch",
                                     "total_steps", "message"), row))
        series = _try(lambda: _old_series(old, version, run_id), None)
        if series:
            copied.append(run_id)
        elif series is None:
            lost.append(run_id)
        rows.setdefault(run_id, {})["_series"] = series or {}
        rows[run_id]["_events"] = _try(lambda: old.execute(
            "SELECT step, time, kind, message, data FROM events WHERE run_id = ? ORDER BY id", (run_id,)).fetchall(), [])
        rows[run_id]["_artifacts"] = _try(lambda: old.execute(
            "SELECT name, data FROM artifacts WHERE run_id = ?", (run_id,)).fetchall(), [])
    old.close()
    return rows, copied, lost


def _try(read, default):
    try:
        return read()
    except (sqlite3.Error, ValueError, TypeError):
        return default


def _old_series(conn: sqlite3.Connection, version: int, run_id: str) -> dict:
    out = {}
    for sid, name in conn.execute("SELECT id, name FROM series WHERE run_id = ?", (run_id,)).fetchall():
        if version == 1:
            pairs = conn.execute("SELECT step, value FROM metrics WHERE series_id = ? ORDER BY step, id",
                                 (sid,)).fetchall()
            out[name] = ([s for s, _ in pairs], [float("nan") if v is None else v for _, v in pairs])
        else:
            _, steps, values = chunks.series(conn, sid)
            out[name] = (steps, values)
    return out


def _restore(store: RunStore, run_id: str, folder: Path, old: dict) -> None:
    row = row_from_folder(folder)
    if "spec" in old:  # the old row survived: keep its status, step and message
        row.update({k: old[k] for k in ("kind", "status", "created", "data", "model", "step", "message")})
    with store._lock, store._conn:
        store._conn.execute(
            "INSERT INTO runs (id, kind, status, created, updated, folder, data, model, spec, step, epoch, total_steps,"
            " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, row["kind"], row["status"], row["created"], time.time(), row["folder"], row["data"], row["model"],
             json.dumps(row["spec"], default=str), row["step"], old.get("epoch") or 0, old.get("total_steps"),
             row["message"]))
        store._conn.executemany("INSERT INTO events (run_id, step, time, kind, message, data) VALUES (?, ?, ?, ?, ?, ?)",
                                [(run_id, *e) for e in old.get("_events", [])])
        store._conn.executemany("INSERT INTO artifacts (run_id, name, updated, data) VALUES (?, ?, ?, ?)",
                                [(run_id, n, time.time(), d) for n, d in old.get("_artifacts", [])])
    if old.get("_series"):
        store.append_series(run_id, old["_series"])


def _busy(folders: list[Path]) -> None:
    for folder in folders:
        holder = lock_holder(folder)
        if holder is not None:
            raise RunInUseError("doctor may move the store aside, so it waits for training to end: "
                                + in_use_message(folder.name, holder))


def repair(runs_dir: str | Path) -> list[str]:
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise LearnsysError(f"No runs dir {runs_dir}: nothing to check. Pass the folder that holds the run folders "
                            "with --runs-dir.")
    path = runs_dir / STORE_FILENAME
    folders = run_folders(runs_dir)
    _busy(folders)
    lines = []
    damage = check_file(path)
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        if not damage and path.exists():
            reader = RunStore(path, readonly=True)
            try:
                rows = reader.runs()
                if not reader.unlisted_folders() and all(r["spec"] is not None for r in rows):
                    return [f"store {path}: healthy", f"doctor: nothing to repair; {len(rows)} run(s)"]
            finally:
                reader.close()
        state = f"damaged ({damage})" if damage else "healthy but missing runs" if path.exists() else "missing"
        raise StoreError(f"The run store {path} is {state}, and the runs dir is read-only: doctor needs to write "
                         "there to repair anything. Make it writable and run doctor again.")
    aside = None
    if not path.exists():
        lines.append(f"store {path}: missing; making a new one")
    elif damage:
        aside = _move_aside(path)
        lines.append(f"store {path}: damaged ({damage}); moved aside to {aside.name}")
    else:
        lines.append(f"store {path}: healthy")
    store = RunStore(path)
    try:
        known = {r[0]: r[1] for r in store._conn.execute("SELECT id, spec FROM runs")}
        missing = [f for f in folders if f.name not in known]
        old, copied, _ = _salvage(aside, store, [f.name for f in missing]) if aside else ({}, [], [])
        rebuilt = []
        for folder in missing:
            _restore(store, folder.name, folder, old.get(folder.name, {}))
            rebuilt.append(folder.name)
        fixed = []
        for folder in folders:
            if folder.name in known and _try(lambda: json.loads(known[folder.name]), None) is None:
                store.update_run(folder.name, spec=row_from_folder(folder)["spec"])
                fixed.append(folder.name)
        orphans = [rid for rid in known if not (runs_dir / rid).is_dir()]
        removed = _remove_half_made(runs_dir)
        lines += _summary(rebuilt, copied, [r for r in rebuilt if r not in copied], fixed, orphans, removed)
        lines.append(f"doctor: the store is usable; {len(store._conn.execute('SELECT id FROM runs').fetchall())} "
                     "run(s)")
    finally:
        store.close()
    return lines


def _remove_half_made(runs_dir: Path) -> list[str]:
    removed = []
    for p in half_made_folders(runs_dir):
        try:  # .new-<id>.<pid>.<hex>: leave it while its creator lives
            os.kill(int(p.name[len(NEW_FOLDER_PREFIX):].rsplit(".", 2)[1]), 0)
            continue
        except (ValueError, IndexError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p.name)
    return removed


def _summary(rebuilt, copied, lost, fixed, orphans, removed) -> list[str]:
    def names(ids: list[str]) -> str:
        return ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")

    lines = []
    if rebuilt:
        lines.append(f"rebuilt the row of {len(rebuilt)} run(s) from their folders: {names(rebuilt)}")
    if copied:
        lines.append(f"recovered the metric history of {len(copied)} run(s) from the damaged file: {names(copied)}")
    if lost:
        lines.append(f"lost: no metric history for {names(lost)}: it lived only in the store and cannot come "
                     "back (specs, checkpoints and `resume` are unaffected)")
    if fixed:
        lines.append(f"fixed the damaged spec of {len(fixed)} run(s) from their folders: {names(fixed)}")
    if orphans:
        lines.append(f"kept {len(orphans)} run(s) of the store that have no folder here: {names(orphans)}")
    if removed:
        lines.append(f"removed {len(removed)} half-made folder(s) of creations that were killed: {names(removed)}")
    return lines
