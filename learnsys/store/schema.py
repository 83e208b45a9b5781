"""The store's schema, its connections, and what a failing SQLite call means to a user.

`open_store(path, readonly)` returns a connection to a store that has the current schema:
it creates the schema in a new file, upgrades a schema-1 file (migrate.py), and refuses a
file it cannot use with one line (StoreError). A reader never writes: a missing or empty
file reads as a store with no runs, and a schema-1 file in a place it cannot write is
upgraded into a copy in memory.

`store_error(path, error)` turns an sqlite3 (or JSON) error into that one line: what is wrong
with which file, and what to do (`learnsys doctor` for a damaged one).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

from ..errors import StoreError, StoreFullError

SCHEMA_VERSION = 2
TABLES = ("runs", "series", "chunks", "chunk_data", "counters", "events", "artifacts")
INT64_MAX = 2**63 - 1
BUSY_TIMEOUT_S = 10.0   # how long a command waits for another process's write

SCHEMA = """
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
-- A series is stored as chunks: the rows one flush wrote, as binary arrays (chunks.py).
-- Every row has a metric row id, allocated from counters('metric_id'): ids increase and are
-- never reused, even after a resume deleted rows (the dashboard replays a stream by id).
CREATE TABLE IF NOT EXISTS chunks (
    id        INTEGER PRIMARY KEY,
    run_id    TEXT NOT NULL,
    series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    n         INTEGER NOT NULL,         -- rows in the chunk, >= 1
    first_id  INTEGER NOT NULL,         -- smallest and largest metric row id in the chunk
    last_id   INTEGER NOT NULL,
    step_lo   INTEGER NOT NULL,         -- smallest and largest step in the chunk
    step_hi   INTEGER NOT NULL,
    stride    INTEGER                   -- steps are step_lo + stride * i when chunk_data.steps is NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks (series_id, first_id);
CREATE INDEX IF NOT EXISTS chunks_by_run_last ON chunks (run_id, last_id);
CREATE TABLE IF NOT EXISTS chunk_data (
    id     INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    ids    BLOB,                        -- int64 (first, count) pairs of id runs; NULL: first_id + i
    steps  BLOB,                        -- int64 steps; NULL: arithmetic (chunks.stride)
    vals   BLOB NOT NULL                -- float64 values, NaN and +-inf as they are
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('metric_id', 1);
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


def doctor_hint(path: Path) -> str:
    return (f"Run `learnsys doctor --runs-dir {path.parent}`: it moves the damaged file aside and rebuilds the "
            "runs from their folders.")


def store_error(path: str | Path, error: BaseException, doing: str = "") -> StoreError:
    """One line for a failed store operation: what is wrong with which file, what to do."""
    if isinstance(error, StoreError):
        return error
    path = Path(path)
    text = str(error)
    low = text.lower()
    if isinstance(error, json.JSONDecodeError):
        return StoreError(f"The run store {path} is damaged: invalid JSON found {doing or 'in a row'} ({text}). "
                          + doctor_hint(path))
    if isinstance(error, OverflowError):
        return StoreError(f"A number is too large for the run store {path} ({text}); integers there are at most "
                          f"{INT64_MAX}.")
    if "readonly" in low or "read-only" in low or "permission" in low:
        return StoreError(f"The run store {path} is read-only here, and this command writes to it"
                          f"{f' ({doing})' if doing and doing != 'this command' else ''}. Make the runs dir writable "
                          "or pass another --runs-dir.")
    if "full" in low or "no space" in low or ("disk i/o" in low and _free_bytes(path) < 1 << 20):
        return StoreFullError(f"The disk holding the run store {path} is full. Free some space, then run the "
                              "command again; nothing else was changed.", str(path))
    if _busy(error):
        return StoreError(f"The run store {path} stayed locked by another process for {BUSY_TIMEOUT_S:g} s. "
                          "Try again.")
    if "unable to open" in low or "disk i/o" in low:
        return StoreError(f"The run store {path} cannot be opened or read ({text}). Check the file and its folder.")
    what = ("is not an SQLite database" if "not a database" in low else
            f"has lost a table ({text})" if "no such table" in low or "no such column" in low else
            f"is damaged ({text})")
    return StoreError(f"The run store {path} {what}. " + doctor_hint(path))


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path.parent).free
    except OSError:
        return 1 << 30


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the store file with the settings every learnsys connection uses (no schema check)."""
    path = Path(path)
    conn = None
    try:
        if readonly:
            conn = _connect_readonly(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    except (OSError, sqlite3.Error) as e:
        if conn is not None:
            conn.close()
        raise store_error(path, e, "this command") from None
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode. Switching needs the file to itself, and SQLite answers a busy
    file at once there, without waiting (two processes making a new store at the same instant:
    one of them failed 'locked', about 1 race in 100): so wait here, as for any other lock."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")  # a file system without WAL keeps its mode: fine
            return
        except sqlite3.OperationalError as e:
            if not _busy(e) or time.monotonic() > deadline:
                raise
        time.sleep(0.005)


def _busy(error: BaseException) -> bool:
    low = str(error).lower()
    return "locked" in low or "busy" in low


def _connect_readonly(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        conn.execute("PRAGMA user_version").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        wal = Path(f"{path}-wal")
        if os.access(path.parent, os.W_OK) or (wal.exists() and wal.stat().st_size):
            raise
    # A read-only runs dir without the WAL's -shm file: SQLite cannot share the WAL index, but
    # with no WAL content there is nothing to share, and nobody can write there (immutable).
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def create_schema(conn: sqlite3.Connection) -> None:
    """The whole schema in one transaction: a kill leaves no half-made store."""
    conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")


def empty_store() -> sqlite3.Connection:
    """A store with no runs, in memory: what a reader sees where there is no store file yet."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    create_schema(conn)
    return conn


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def open_store(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection to `path` with the current schema, or StoreError (see the module doc)."""
    from .migrate import migrate_v1

    path = Path(path)
    if readonly and (not path.exists() or path.stat().st_size == 0):
        return empty_store()
    conn = connect(path, readonly=readonly)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and not _tables(conn):
            if readonly:
                conn.close()
                return empty_store()
            create_schema(conn)
        elif version == 1:
            if readonly:
                conn.close()
                return _upgraded_for_reading(path)
            migrate_v1(conn)
        elif version > SCHEMA_VERSION:
            raise StoreError(f"The run store {path} was written by a newer learnsys (schema {version}; this one "
                             f"reads {SCHEMA_VERSION}). Upgrade learnsys.")
        missing = [t for t in TABLES if t not in _tables(conn)]
        if missing:
            raise StoreError(f"The run store {path} has lost its table(s) {', '.join(missing)}. " + doctor_hint(path))
    except (sqlite3.Error, StoreError) as e:
        conn.close()
        raise store_error(path, e, "this command") from None
    return conn


def _upgraded_for_reading(path: Path) -> sqlite3.Connection:
    """A schema-1 store opened to read: upgraded in place when it may be written, else into a
    copy in memory (a read-only runs dir still reads)."""
    from .migrate import migrate_v1

    if _writable(path):
        conn = connect(path)
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 1:
                migrate_v1(conn)
        finally:
            conn.close()
        return connect(path, readonly=True)
    source = connect(path, readonly=True)
    memory = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        source.backup(memory)
    finally:
        source.close()
    migrate_v1(memory)
    memory.execute("PRAGMA foreign_keys=ON")
    return memory
