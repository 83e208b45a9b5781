"""The run store on its own: series as chunks against a plain-Python reference, ids that
never repeat, truncation on resume, merging of small chunks, bounds, reserved ids, and the
upgrade of a schema-1 store."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnsys.errors import RunIdError, SpecError, StoreError
from learnsys.store import STORE_FILENAME, RunStore, StoreWriter, check_run_id
from learnsys.store import chunks

from .store_tools import make_readonly, run_reader


@pytest.fixture
def store(tmp_path):
    s = RunStore(tmp_path / STORE_FILENAME)
    s.create_run("r1", kind="train", spec={"lr": 0.1})
    s.create_run("r2", kind="train", spec={})
    yield s
    s.close()


def _reference_rows(writes):
    """What the store must hold after `writes` (lists of (run, name, steps, values) per call):
    rows (id, run, name, step, value) with ids 1, 2, ... in write order."""
    rows, next_id = [], 1
    for run, name, steps, values in writes:
        for s, v in zip(steps, values):
            rows.append((next_id, run, name, s, v))
            next_id += 1
    return rows


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


values_st = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.just(math.nan))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["r1", "r2"]), st.sampled_from(["loss", "lr", "w"]),
                          st.lists(st.tuples(st.integers(-5, 400), values_st), min_size=1, max_size=40)),
                min_size=1, max_size=40),
       st.integers(0, 60), st.integers(1, 50), st.integers(-1, 400))
def test_series_feed_and_truncation_match_a_plain_reference(tmp_path_factory, writes, after, limit, cut):
    s = RunStore(tmp_path_factory.mktemp("s") / STORE_FILENAME)
    for run in ("r1", "r2"):
        s.create_run(run, kind="train", spec={})
    calls = [(run, name, [p[0] for p in pts], [p[1] for p in pts]) for run, name, pts in writes]
    for run, name, steps, values in calls:
        s.append_series(run, {name: (steps, values)})
    ref = _reference_rows(calls)
    assert s.last_metric_id() == len(ref)
    for run in ("r1", "r2"):
        mine = [r for r in ref if r[1] == run]
        got = s.metric_rows(run, after, limit)
        want = [(i, n, st_, v) for i, _, n, st_, v in mine if i > after][:limit]
        assert [g[:3] for g in got] == [w[:3] for w in want] and all(_same(g[3], w[3]) for g, w in zip(got, want))
        for name in ("loss", "lr", "w"):
            rows = sorted((r for r in mine if r[2] == name), key=lambda r: (r[3], r[0]))
            steps, values = s.series_arrays(run, name)
            assert steps.tolist() == [r[3] for r in rows]
            assert all(_same(a, r[4]) for a, r in zip(values.tolist(), rows))
            lo = [r for r in rows if r[0] > after and 0 <= r[3] <= 200]
            st2, v2 = s.series_arrays(run, name, after_id=after, start=0, stop=200)
            assert st2.tolist() == [r[3] for r in lo]
        want_all = sorted(((r[3], r[2], r[0], r[4]) for r in mine))
        got_all = s.all_metrics(run)
        assert [(g[0], g[1]) for g in got_all] == [(w[0], w[1]) for w in want_all]
    dropped = s.truncate_after("r1", cut)
    assert dropped == sum(1 for r in ref if r[1] == "r1" and r[3] > cut)
    kept = [r for r in ref if r[1] == "r1" and r[3] <= cut]
    assert [r[0] for r in s.metric_rows("r1")] == [r[0] for r in kept]  # the rows kept keep their ids
    s.append_series("r1", {"loss": ([cut + 1], [1.0])})
    assert s.metric_rows("r1")[-1][0] == len(ref) + 1  # never an id handed out before
    s.close()


def test_nan_and_infinities_round_trip_through_the_writer(store):
    writer = StoreWriter(store.path)
    writer.put_series("r1", {"loss": ([1, 2, 3, 4], [math.nan, math.inf, -math.inf, 5e-324])})
    writer.put_metrics("r1", [("lr", 1, 0.1), ("lr", 2, None)])
    writer.close()
    _, values = store.series("r1", "loss")
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 5e-324]
    assert store.series_rows("r1", "lr") == [(1, 0.1), (2, None)]  # series_rows: None means NaN, as before


def test_small_flushes_are_merged_into_few_chunks_and_read_the_same(store):
    for step in range(1, 1001):  # a slow run: one row per flush
        store.append_series("r1", {"loss": ([step], [1.0 / step]), "lr": ([step], [0.1])})
    n_chunks = store._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert n_chunks <= 2 * (1 + chunks.MERGE_AT)  # not 2,000
    steps, values = store.series_arrays("r1", "loss")
    assert steps.tolist() == list(range(1, 1001)) and values.tolist() == [1.0 / s for s in range(1, 1001)]
    rows = store.metric_rows("r1", 0)
    assert [r[0] for r in rows] == list(range(1, 2001))  # interleaved ids, as written
    assert [r[1] for r in rows[:4]] == ["loss", "lr", "loss", "lr"]
    assert store.metric_rows("r1", 1500, limit=7) == rows[1500:1507]


def test_merging_never_makes_a_series_chunks_overlap(store):
    step, expected = 0, []
    for k in range(60):  # small flushes with a large one now and then, and another series between
        n = 5000 if k % 20 == 10 else 3
        steps = list(range(step, step + n))
        store.append_series("r1", {"loss": (steps, [float(s) for s in steps]), "lr": ([step], [0.5])})
        expected += steps
        step += n
    ranges = store._conn.execute("SELECT first_id, last_id FROM chunks WHERE series_id = (SELECT id FROM series "
                                 "WHERE name = 'loss') ORDER BY first_id").fetchall()
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
    assert store.series("r1", "loss")[0] == expected
    rows = store.metric_rows("r1")
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert [r[2] for r in rows if r[1] == "loss"] == expected


def test_a_large_flush_is_split_and_steps_with_a_stride_take_no_space(store):
    n = chunks.MAX_CHUNK + 10
    store.append_series("r1", {"loss": (range(0, 2 * n, 2), np.linspace(0, 1, n))})
    meta = store._conn.execute("SELECT n, stride FROM chunks ORDER BY first_id").fetchall()
    assert meta == [(chunks.MAX_CHUNK, 2), (10, 2)]
    assert store._conn.execute("SELECT COUNT(*) FROM chunk_data WHERE steps IS NULL").fetchone()[0] == 2
    steps, values = store.series_arrays("r1", "loss", start=2 * n - 6)
    assert steps.tolist() == [2 * n - 6, 2 * n - 4, 2 * n - 2] and values[-1] == 1.0


def test_too_large_integers_never_reach_sqlite(store):
    for call in (lambda: store.append_series("r1", {"loss": ([2**63], [1.0])}),
                 lambda: store.append_series("r1", {"loss": ([1.5], [1.0])}),
                 lambda: store.update_run("r1", total_steps=10**23),
                 lambda: store.add_event("r1", 2**64, "x", "y"),
                 lambda: StoreWriter(store.path).put_run_update("r1", step=99999999999999999999999)):
        with pytest.raises(StoreError, match="too large|integer"):
            call()
    assert store.run("r1")["total_steps"] is None and store.metric_names("r1") == []


@pytest.mark.parametrize("bad", ["learnsys.sqlite", "learnsys.sqlite-wal", "learnsys.sqlite-shm",
                                 "learnsys.sqlite-journal", "Learnsys.sqlite", "dashboard.log",
                                 "learnsys.sqlite.damaged-1"])
def test_ids_of_the_runs_dir_own_files_are_reserved(bad):
    with pytest.raises(RunIdError, match="reserved") as e:
        check_run_id(bad)
    assert isinstance(e.value, SpecError) and isinstance(e.value, StoreError)  # a usage error
    assert "\n" not in str(e.value)


def test_a_run_the_store_lost_gets_its_row_back_from_its_folder(tmp_path):
    folder = tmp_path / "lost"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "spec.toml").write_text('model = "poly:2"\ndata = "lecture5"\nlr = 0.01\n')
    (folder / "checkpoints" / "step-00000040.pt").write_bytes(b"x")
    s = RunStore(tmp_path / STORE_FILENAME)
    s.add_event("lost", 40, "resume", "Resumed.")  # no row yet: rebuilt from the folder, then written
    row = s.run("lost")
    assert (row["kind"], row["status"], row["step"], row["model"]) == ("train", "stopped", 40, "poly:2")
    assert row["spec"]["lr"] == 0.01 and "rebuilt" in row["message"]
    with pytest.raises(StoreError, match="No run 'nowhere'"):
        s.add_event("nowhere", 0, "x", "y")  # no folder: nothing to rebuild from


def test_two_creations_of_one_id_give_one_clear_refusal(store):
    with pytest.raises(RunIdError, match="is taken"):
        store.create_run("r1", kind="train", spec={})


V1_SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL,
  updated REAL NOT NULL, folder TEXT, data TEXT, model TEXT, spec TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0,
  epoch INTEGER NOT NULL DEFAULT 0, total_steps INTEGER, message TEXT);
CREATE TABLE series (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name TEXT NOT NULL, UNIQUE (run_id, name));
CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, series_id INTEGER NOT NULL REFERENCES series(id)
  ON DELETE CASCADE, step INTEGER NOT NULL, value REAL);
CREATE INDEX metrics_by_series_step ON metrics (series_id, step);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(id)
  ON DELETE CASCADE, step INTEGER NOT NULL, time REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL, data TEXT);
CREATE TABLE artifacts (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, name TEXT NOT NULL,
  updated REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (run_id, name));
PRAGMA user_version = 1;
"""


def _v1_store(path):
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA)
    con.execute("INSERT INTO runs (id, kind, status, created, updated, spec) VALUES ('old', 'train', 'finished', 1, "
                "1, '{\"lr\": 0.5}')")
    con.execute("INSERT INTO series (id, run_id, name) VALUES (1, 'old', 'train/loss'), (2, 'old', 'lr')")
    rows = []
    for s in range(1, 301):
        rows += [(1, s, None if s == 7 else 1.0 / s), (2, s, 0.5)]
    con.executemany("INSERT INTO metrics (series_id, step, value) VALUES (?, ?, ?)", rows)
    con.execute("DELETE FROM metrics WHERE id > 590")  # a resume's truncation: ids 591-600 were handed out
    con.execute("INSERT INTO events (run_id, step, time, kind, message) VALUES ('old', 0, 1, 'start', 'hi')")
    con.commit()
    con.close()


def _check_upgraded(s: RunStore):
    steps, values = s.series("old", "train/loss")
    assert steps == list(range(1, 296)) and math.isnan(values[6]) and values[9] == 0.1
    assert [r[0] for r in s.metric_rows("old", 585)] == [586, 587, 588, 589, 590]  # the same ids as before
    assert s.last_metric_id() == 600 and s.events("old")[0]["message"] == "hi"
    assert s.run("old")["train_loss"] == 1.0 / 295


def test_a_schema_1_store_is_upgraded_in_place_keeping_its_ids(tmp_path):
    path = tmp_path / STORE_FILENAME
    _v1_store(path)
    s = RunStore(path)
    _check_upgraded(s)
    s.append_series("old", {"lr": ([301], [0.5])})
    assert s.metric_rows("old", 590)[0][0] == 601  # above every id schema 1 handed out
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_schema_1_store_that_cannot_be_written_is_read_through_a_copy(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    _v1_store(runs / STORE_FILENAME)
    make_readonly(runs)
    try:
        (listed,) = run_reader([["runs", "--json", "--runs-dir", runs]], tmp_path)
    finally:
        for p in (runs, runs / STORE_FILENAME):
            p.chmod(0o755)
    assert listed["code"] == 0 and not listed["err"], listed
    assert [(r["id"], r["train_loss"]) for r in json.loads(listed["out"])] == [("old", 1.0 / 295)]
    con = sqlite3.connect(runs / STORE_FILENAME)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1  # upgraded in memory, the file untouched
    con.close()
    _check_upgraded(RunStore(runs / STORE_FILENAME, readonly=True))  # writable again: upgraded in place


def test_a_reader_of_a_missing_or_empty_store_sees_no_runs(tmp_path):
    assert RunStore(tmp_path / "none.sqlite", readonly=True).runs() == []
    assert not (tmp_path / "none.sqlite").exists()  # a reader never creates the file
    (tmp_path / "empty.sqlite").write_bytes(b"")
    assert RunStore(tmp_path / "empty.sqlite", readonly=True).runs() == []
