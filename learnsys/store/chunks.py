"""Metric series as chunks of binary arrays: what one flush wrote, in one row.

A chunk holds n rows of one series: their metric row ids, steps and values. Its metadata
(`chunks`: id range, step range) is a small row; its arrays (`chunk_data`) are little-endian
int64/float64 bytes, so reading a million points is a few reads and a `frombuffer` per chunk
(docs/performance.md, "Store"). Steps that go up by a constant stride (every step, every 100th)
take no bytes; ids are a few (first, count) pairs, or none when they are consecutive.

Ids come from counters('metric_id') in the writer's transaction: they increase in commit order
and are never reused. A writer merges the small chunks it wrote (slow runs flush a few rows at
a time) into one, so a series stays a few hundred chunks however it was flushed.

Functions take a connection; the caller holds the transaction and the connection's lock.
"""

from __future__ import annotations

import sqlite3
from typing import Sequence

import numpy as np

from ..errors import StoreError
from .schema import INT64_MAX

MAX_CHUNK = 65_536   # rows per chunk at most (a resume rewrites at most one chunk per series)
SMALL = 4_096        # a chunk with fewer rows is merged with the writer's next small ones ...
MERGE_AT = 16        # ... when there are this many

_I8, _F8 = np.dtype("<i8"), np.dtype("<f8")


def as_arrays(steps: Sequence[int], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(steps int64, values float64), checked: integers that SQLite cannot hold never reach it."""
    try:
        s = np.asarray(steps)
        if s.dtype.kind not in "iu" or (s.dtype.kind == "u" and s.size and s.max() > INT64_MAX):
            if s.size and s.dtype.kind != "O" and not np.all(np.equal(np.mod(s, 1), 0)):
                raise ValueError("steps must be integers")
            s = np.array([int(x) for x in s.reshape(-1)], dtype=np.int64)  # OverflowError beyond int64
        v = np.asarray(values, dtype=np.float64)
    except (OverflowError, TypeError, ValueError) as e:
        raise StoreError(f"Metric rows must have integer steps within +-{INT64_MAX} and real values ({e}).") from None
    if s.ndim != 1 or v.shape != s.shape:
        raise StoreError(f"A series needs as many values as steps (got shapes {s.shape} and {v.shape}).")
    return s.astype(_I8, copy=False), v.astype(_F8, copy=False)


def check_int(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise StoreError(f"{name} must be an integer, got {value!r}.") from None
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise StoreError(f"{name} = {value} is too large for the run store (integers there are at most "
                         f"{INT64_MAX}).")
    return value


# -- encoding -----------------------------------------------------------------------------

def _encode_ids(ids: np.ndarray) -> bytes | None:
    gaps = np.diff(ids) != 1
    if not gaps.any():
        return None
    breaks = np.flatnonzero(gaps) + 1
    starts = np.r_[0, breaks]
    counts = np.diff(np.r_[starts, ids.size])
    return np.column_stack([ids[starts], counts]).astype(_I8).tobytes()


def _decode_ids(first: int, n: int, blob: bytes | None) -> np.ndarray:
    if blob is None:
        return np.arange(first, first + n, dtype=np.int64)
    pairs = np.frombuffer(blob, dtype=_I8).reshape(-1, 2)
    starts, counts = pairs[:, 0], pairs[:, 1]
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(n, dtype=np.int64)


def _stride(steps: np.ndarray) -> int | None:
    if steps.size == 1:
        return 1
    d = int(steps[1]) - int(steps[0])
    return d if d > 0 and np.all(np.diff(steps) == d) else None


def _write(conn: sqlite3.Connection, run_id: str, series_id: int, ids: np.ndarray, steps: np.ndarray,
           values: np.ndarray) -> int:
    stride = _stride(steps)
    cur = conn.execute(
        "INSERT INTO chunks (run_id, series_id, n, first_id, last_id, step_lo, step_hi, stride)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, series_id, int(ids.size), int(ids[0]), int(ids[-1]), int(steps.min()), int(steps.max()), stride))
    conn.execute("INSERT INTO chunk_data (id, ids, steps, vals) VALUES (?, ?, ?, ?)",
                 (cur.lastrowid, _encode_ids(ids), None if stride is not None else steps.tobytes(),
                  values.tobytes()))
    return cur.lastrowid


def allocate_ids(conn: sqlite3.Connection, n: int) -> int:
    """The first of n new metric row ids (the UPDATE takes the write lock first)."""
    conn.execute("UPDATE counters SET value = value + ? WHERE name = 'metric_id'", (n,))
    return conn.execute("SELECT value FROM counters WHERE name = 'metric_id'").fetchone()[0] - n


def insert(conn: sqlite3.Connection, run_id: str, series_id: int, steps: np.ndarray,
           values: np.ndarray, ids: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Store rows as chunks (new ids unless given); returns [(chunk id, n)]."""
    if ids is None:
        first = allocate_ids(conn, steps.size)
        ids = np.arange(first, first + steps.size, dtype=np.int64)
    out = []
    for a in range(0, steps.size, MAX_CHUNK):
        b = a + MAX_CHUNK
        out.append((_write(conn, run_id, series_id, ids[a:b], steps[a:b], values[a:b]), min(b, steps.size) - a))
    return out


# -- reading ------------------------------------------------------------------------------

_COLUMNS = "c.id, c.series_id, c.first_id, c.n, c.step_lo, c.stride, d.ids, d.steps, d.vals"


def _decode(row: tuple) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """(chunk id, series id, ids, steps, values) of one chunk row."""
    cid, sid, first, n, lo, stride, ids, steps, vals = row
    s = np.frombuffer(steps, dtype=_I8) if steps is not None else lo + stride * np.arange(n, dtype=np.int64)
    return cid, sid, _decode_ids(first, n, ids), s, np.frombuffer(vals, dtype=_F8)


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _joined(rows: list[tuple], total: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of chunk rows, one copy each: consecutive strided chunks become one arange."""
    values = np.empty(total, dtype=np.float64)
    a = 0
    for r in rows:
        values[a:a + r[3]] = np.frombuffer(r[8], dtype=_F8)
        a += r[3]
    first, stride = (rows[0][4], rows[0][5]) if rows else (0, 1)
    expected = first
    for r in rows:
        if r[7] is not None or r[5] != stride or r[4] != expected:
            break
        expected += stride * r[3]
    else:  # every chunk continues the last one's stride: one arange
        return first + stride * np.arange(total, dtype=np.int64), values
    steps = np.empty(total, dtype=np.int64)
    a = 0
    for r in rows:
        steps[a:a + r[3]] = np.frombuffer(r[7], dtype=_I8) if r[7] is not None else \
            r[4] + r[5] * np.arange(r[3], dtype=np.int64)
        a += r[3]
    return steps, values


def series(conn: sqlite3.Connection, series_id: int, after_id: int = 0, upto_id: int | None = None,
           start: int | None = None, stop: int | None = None,
           with_ids: bool = False) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(ids, steps, values) of one series with after_id < id <= upto_id and start <= step <= stop,
    ordered by step, then id. A series' chunks never overlap in ids (merge() keeps it so), so in
    first-id order they are in id order; ids are decoded only when asked for or filtered on
    (else None): a million-point read is a few reads and one copy per array."""
    sql = f"SELECT {_COLUMNS} FROM chunks c JOIN chunk_data d ON d.id = c.id WHERE c.series_id = ?"
    params: list = [series_id]
    for cond, value in (("c.last_id > ?", after_id or None), ("c.first_id <= ?", upto_id),
                        ("c.step_hi >= ?", start), ("c.step_lo <= ?", stop)):
        if value is not None:
            sql += f" AND {cond}"
            params.append(check_int("a series bound", value))
    rows = conn.execute(sql + " ORDER BY c.first_id", params).fetchall()
    steps, values = _joined(rows, sum(r[3] for r in rows))
    ids = None
    if with_ids or after_id or upto_id is not None:
        ids = _concat([_decode_ids(r[2], r[3], r[6]) for r in rows], np.int64)
    keep = None
    for cond in ((ids > after_id) if after_id else None, (ids <= upto_id) if upto_id is not None else None,
                 (steps >= start) if start is not None else None, (steps <= stop) if stop is not None else None):
        if cond is not None and not cond.all():
            keep = cond if keep is None else keep & cond
    if keep is not None:
        steps, values = steps[keep], values[keep]
        ids = None if ids is None else ids[keep]
    if steps.size > 1 and not np.all(steps[1:] >= steps[:-1]):
        order = np.argsort(steps, kind="stable")  # stable on id order: ties stay by id
        steps, values = steps[order], values[order]
        ids = None if ids is None else ids[order]
    return ids, steps, values


def rows_after(conn: sqlite3.Connection, run_id: str, after_id: int,
               limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids, series ids, steps, values) of a run's rows with id > after_id, in id order, at most
    `limit`. Chunks are read in order of their first id until the `limit` smallest ids are
    known: no chunk not yet read can hold a smaller one once its first id is above them."""
    meta = conn.execute("SELECT id, first_id, n FROM chunks WHERE run_id = ? AND last_id > ? ORDER BY first_id",
                        (run_id, check_int("after_id", after_id))).fetchall()
    select = f"SELECT {_COLUMNS} FROM chunks c JOIN chunk_data d ON d.id = c.id WHERE c.id "
    if limit is None or sum(m[2] for m in meta) <= limit:  # the usual live poll: read them all at once
        decoded = [_decode(r) for r in conn.execute(
            select + "IN (SELECT id FROM chunks WHERE run_id = ? AND last_id > ?) ORDER BY c.first_id",
            (run_id, after_id))]
    else:
        decoded, count = [], 0
        for k, (cid, _, _) in enumerate(meta):
            decoded.append(_decode(conn.execute(select + "= ?", (cid,)).fetchone()))
            count += int((decoded[-1][2] > after_id).sum())
            if count >= limit and k + 1 < len(meta):
                ids = np.concatenate([c[2] for c in decoded])
                if meta[k + 1][1] > np.partition(ids[ids > after_id], limit - 1)[limit - 1]:
                    break
    ids = _concat([c[2] for c in decoded], np.int64)
    sids = _concat([np.full(c[2].size, c[1], dtype=np.int64) for c in decoded], np.int64)
    steps = _concat([c[3] for c in decoded], np.int64)
    values = _concat([c[4] for c in decoded], np.float64)
    keep = np.flatnonzero(ids > after_id)
    order = keep[np.argsort(ids[keep], kind="stable")][:limit]
    return ids[order], sids[order], steps[order], values[order]


# -- rewriting ----------------------------------------------------------------------------

def _load(conn: sqlite3.Connection, where: str, params: Sequence) -> list[tuple]:
    return [_decode(r) for r in conn.execute(
        f"SELECT {_COLUMNS} FROM chunks c JOIN chunk_data d ON d.id = c.id WHERE {where} ORDER BY c.first_id",
        params)]


def truncate(conn: sqlite3.Connection, run_id: str, step: int) -> int:
    """Drop a run's rows with step > `step`; the rows kept keep their ids. Returns how many went."""
    step = check_int("step", step)
    dropped = 0
    for cid, sid, ids, steps, values in _load(conn, "c.run_id = ? AND c.step_hi > ?", (run_id, step)):
        keep = steps <= step
        dropped += int(ids.size - keep.sum())
        conn.execute("DELETE FROM chunks WHERE id = ?", (cid,))
        if keep.any():
            _write(conn, run_id, sid, ids[keep], steps[keep], values[keep])
    return dropped


def merge(conn: sqlite3.Connection, run_id: str, series_id: int, chunk_ids: list[int]) -> tuple[int, int] | None:
    """Merge the given small chunks of one series into one; returns (its chunk id, n), or None
    when fewer than two of them are still there."""
    marks = ",".join("?" * len(chunk_ids))
    found = _load(conn, f"c.id IN ({marks}) AND c.series_id = ? AND c.n < ?", [*chunk_ids, series_id, SMALL])
    if len(found) < 2:
        return None
    between = conn.execute(f"SELECT COUNT(*) FROM chunks WHERE series_id = ? AND first_id > ? AND first_id < ? AND "
                           f"id NOT IN ({','.join('?' * len(found))})",
                           [series_id, int(found[0][2][0]), int(found[-1][2][0]), *[c[0] for c in found]]).fetchone()[0]
    if between:  # another chunk of the series lies among them: merging would make the ids overlap
        return None
    conn.execute(f"DELETE FROM chunks WHERE id IN ({','.join('?' * len(found))})", [c[0] for c in found])
    ids = np.concatenate([c[2] for c in found])
    return _write(conn, run_id, series_id, ids, np.concatenate([c[3] for c in found]),
                  np.concatenate([c[4] for c in found])), int(ids.size)
