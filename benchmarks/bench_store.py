"""Run store: a 1,000,000-step series read cold and warm, schema 2 (binary chunks) against
schema 1 (one SQLite row per point, read as the dashboard read it), side by side in one run.
Results go into docs/performance.md ("Store").

    python benchmarks/bench_store.py                  # 1M steps, 7 reps (about a minute)
    python benchmarks/bench_store.py --steps 200000 --reps 5 --flush-rows 10

Both stores hold the same run: train/loss, lr, param/w and param/b for every step, written
as the training loop's store sink writes them (one `append_series` per flush of
`--flush-rows` steps; schema 1 gets the same rows with the schema-1 SQL). A rep reads
train/loss from each store, alternating which goes first:

- schema 2: `RunStore(path, readonly=True).series_arrays(run, "train/loss")` -> numpy arrays;
- schema 1: `SELECT step, value FROM metrics ... ORDER BY step, id` and the dashboard's
  conversion of those rows to numpy arrays (ui/series.py `_arrays`), the path measured at 0.8 s.

Cold: a new connection after `echo 3 > /proc/sys/vm/drop_caches` (as root: nothing of the
file is in memory); without root, a new connection with the file in the page cache (said so).
Warm: the same query again on the open connection. Median and spread (min-max) of the reps;
the load average at start and end.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from learnsys.store import STORE_FILENAME, RunStore

V1_SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL,
  updated REAL NOT NULL, folder TEXT, data TEXT, model TEXT, spec TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0,
  epoch INTEGER NOT NULL DEFAULT 0, total_steps INTEGER, message TEXT);
CREATE TABLE series (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (run_id, name));
CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, series_id INTEGER NOT NULL, step INTEGER NOT NULL,
  value REAL);
CREATE INDEX metrics_by_series_step ON metrics (series_id, step);
PRAGMA user_version = 1;
"""
NAMES = ("train/loss", "lr", "param/w", "param/b")


def columns(a: int, b: int) -> dict[str, tuple[list[int], list[float]]]:
    steps = list(range(a, b))
    return {"train/loss": (steps, [1.0 / math.sqrt(s) + 0.05 * math.sin(s * 0.37) ** 2 for s in steps]),
            "lr": (steps, [0.01] * len(steps)), "param/w": (steps, [2 - 1 / s for s in steps]),
            "param/b": (steps, [1 / s for s in steps])}


def build(folder: Path, steps: int, flush_rows: int) -> tuple[Path, Path]:
    v2, v1 = folder / "v2" / STORE_FILENAME, folder / "v1" / STORE_FILENAME
    store = RunStore(v2)
    store.create_run("big", kind="train", spec={}, status="finished", total_steps=steps)
    v1.parent.mkdir()
    con = sqlite3.connect(v1)
    con.executescript(V1_SCHEMA)
    con.execute("INSERT INTO runs (id, kind, status, created, updated, spec) VALUES ('big', 'train', 'finished', 0, 0,"
                " '{}')")
    con.executemany("INSERT INTO series (id, run_id, name) VALUES (?, 'big', ?)", list(enumerate(NAMES, 1)))
    for a in range(1, steps + 1, flush_rows):
        batch = columns(a, min(a + flush_rows, steps + 1))
        store.append_series("big", batch)
        con.executemany("INSERT INTO metrics (series_id, step, value) VALUES (?, ?, ?)",
                        [(NAMES.index(n) + 1, s, v) for n, (ss, vs) in batch.items() for s, v in zip(ss, vs)])
    con.commit()
    con.close()
    store.close()
    return v2, v1


def read_v2(path: Path, store: RunStore | None = None) -> tuple[np.ndarray, np.ndarray]:
    s = store or RunStore(path, readonly=True)
    out = s.series_arrays("big", "train/loss")
    if store is None:
        s.close()
    return out


def read_v1(path: Path, con: sqlite3.Connection | None = None) -> tuple[np.ndarray, np.ndarray]:
    c = con or sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = c.execute("SELECT step, value FROM metrics WHERE series_id = 1 AND id <= 1e18 ORDER BY step, id").fetchall()
    if con is None:
        c.close()
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))  # ui/series._arrays
    pairs = flat.reshape(len(rows), 2)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].copy()


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def timed(fn) -> tuple[float, tuple]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def summary(ms: list[float]) -> str:
    return f"median {statistics.median(ms):7.1f} ms  (min {min(ms):.1f}, max {max(ms):.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--flush-rows", type=int, default=1024, help="steps per flush (the recorder's max_rows: 1024)")
    args = ap.parse_args()
    load = lambda: subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()  # noqa: E731
    print(f"# store benchmark (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, "
          f"numpy {np.__version__}); load at start: {load()}")
    with tempfile.TemporaryDirectory(prefix="learnsys-bench-store-") as tmp:
        t = time.perf_counter()
        v2, v1 = build(Path(tmp), args.steps, args.flush_rows)
        n_chunks = sqlite3.connect(v2).execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        print(f"{args.steps:,} steps x 4 series, flushes of {args.flush_rows} steps, built in "
              f"{time.perf_counter() - t:.0f} s; schema 2 {v2.stat().st_size / 1e6:.1f} MB in {n_chunks} chunks, "
              f"schema 1 {v1.stat().st_size / 1e6:.1f} MB")
        ref = read_v1(v1)
        got = read_v2(v2)
        assert np.array_equal(ref[0], got[0]) and np.array_equal(ref[1], got[1]), "the two stores disagree"
        cold: dict[str, list[float]] = {"schema 2": [], "schema 1": []}
        dropped = True
        for rep in range(args.reps):
            order = [("schema 2", lambda: read_v2(v2)), ("schema 1", lambda: read_v1(v1))]
            for name, fn in order if rep % 2 == 0 else order[::-1]:
                dropped = drop_caches() and dropped
                cold[name].append(timed(fn)[0])
        store = RunStore(v2, readonly=True)
        con = sqlite3.connect(f"file:{v1}?mode=ro", uri=True)
        warm: dict[str, list[float]] = {"schema 2": [], "schema 1": []}
        for rep in range(args.reps):
            warm["schema 2"].append(timed(lambda: read_v2(v2, store))[0])
            warm["schema 1"].append(timed(lambda: read_v1(v1, con))[0])
        what = "page cache dropped before each read" if dropped else "new connection, file in the page cache (not root)"
        for kind, results in (("cold", cold), ("warm", warm)):
            for name, ms in results.items():
                print(f"{kind:4} {name}: {summary(ms)}")
            print(f"{kind:4} schema 1 / schema 2: {statistics.median(results['schema 1']) / statistics.median(results['schema 2']):.1f}x"
                  + (f"   ({what}; {args.reps} reps)" if kind == "cold" else ""))
    print(f"load at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
