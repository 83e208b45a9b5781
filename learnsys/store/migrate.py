"""Upgrade a schema-1 store (one SQLite row per metric point) to schema 2 (chunks), in place.

One transaction: the old `metrics` rows become chunks with the same ids, the id counter
continues above the highest id ever handed out, and the old table goes. A kill during the
upgrade leaves the schema-1 store as it was.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from . import chunks
from .schema import SCHEMA, SCHEMA_VERSION


def migrate_v1(conn: sqlite3.Connection) -> None:
    conn.executescript("BEGIN IMMEDIATE; " + SCHEMA)  # the new tables; the transaction stays open
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != 1:  # another process upgraded it meanwhile
            conn.rollback()
            return
        for series_id, run_id in conn.execute("SELECT id, run_id FROM series").fetchall():
            rows = conn.execute("SELECT id, step, value FROM metrics WHERE series_id = ? ORDER BY id",
                                (series_id,)).fetchall()
            if not rows:
                continue
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            steps = np.array([r[1] for r in rows], dtype=np.int64)
            values = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
            chunks.insert(conn, run_id, series_id, steps, values, ids=ids)
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'metrics'").fetchone()
        top = max(seq[0] if seq else 0, conn.execute("SELECT COALESCE(MAX(id), 0) FROM metrics").fetchone()[0])
        conn.execute("UPDATE counters SET value = ? WHERE name = 'metric_id'", (top + 1,))
        conn.execute("DROP INDEX IF EXISTS metrics_by_series_step")
        conn.execute("DROP TABLE metrics")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
