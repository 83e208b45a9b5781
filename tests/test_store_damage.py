"""A store that survives damage: every damaged, deleted or read-only store gives one line that
says what is wrong and what to do, never an sqlite3 traceback; `learnsys doctor` rebuilds the
run rows from the run folders; reserved ids, a missing tensorboard and a full disk at
creation leave nothing half-made."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from learnsys.store import STORE_FILENAME, RunStore

from .store_tools import Worker, make_readonly, race, run_reader

SPEC = ["--model", "linear", "--data", "lecture", "--steps", "40", "--checkpoint-every", "20", "--no-ui", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A runs dir with two finished runs, 'a' (linear) and 'b' (poly:2), made once."""
    from learnsys.cli import main

    runs = tmp_path_factory.mktemp("trained") / "runs"
    assert main(["train", *SPEC, "--run-id", "a", "--runs-dir", str(runs)]) == 0
    assert main(["train", *SPEC, "--model", "poly:2", "--data", "lecture5", "--run-id", "b",
                 "--runs-dir", str(runs)]) == 0
    return runs


@pytest.fixture
def runs(trained, tmp_path):
    copy = tmp_path / "runs"
    shutil.copytree(trained, copy)
    return copy


def _one_line(r, *words) -> str:
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert r.code != 0 and len(lines) == 1 and lines[0].startswith("error: "), (r.code, r.err)
    assert "Traceback" not in r.err and all(w in lines[0] for w in words), lines[0]
    return lines[0]


def _truncate(store):
    store.write_bytes(store.read_bytes()[:3000])


def _random(store):
    store.write_bytes(os.urandom(store.stat().st_size))


def _drop(table):
    def damage(store):
        con = sqlite3.connect(store)
        con.execute(f"DROP TABLE {table}")
        con.commit()
        con.close()
    return damage


def _bad_spec_json(store):
    con = sqlite3.connect(store)
    con.execute("UPDATE runs SET spec = '{\"lr\": 0.1,' WHERE id = 'a'")
    con.commit()
    con.close()


DAMAGE = {"truncated": (_truncate, "is damaged"), "random bytes": (_random, "not an SQLite database"),
          "table dropped": (_drop("chunks"), "lost its table(s) chunks"),
          "events dropped": (_drop("events"), "lost its table(s) events")}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_store_is_one_line_everywhere_and_doctor_rebuilds_it(case, cli, runs):
    damage, words = DAMAGE[case]
    store = runs / STORE_FILENAME
    damage(store)
    for verb in (["runs"], ["show", "a"], ["metrics", "a"], ["resume", "a", "--steps", "60", "--no-ui", "--quiet"]):
        _one_line(cli(*verb, "--runs-dir", runs), words, f"learnsys doctor --runs-dir {runs}")
    r = cli("doctor", "--runs-dir", runs)
    assert r.code == 0, r.err
    assert "damaged" in r.out and "moved aside to learnsys.sqlite.damaged-" in r.out and "rebuilt the row of 2" in r.out
    aside = [p for p in runs.iterdir() if p.name.startswith("learnsys.sqlite.damaged-") and p.name.count("-") == 2]
    assert len(aside) == 1 and aside[0].stat().st_size > 0  # moved, never deleted
    if case == "events dropped":  # the metrics could still be read: they came back
        assert "recovered the metric history of 2 run(s)" in r.out
    else:
        assert "lost: no metric history for a, b" in r.out
    listed = json.loads(cli("runs", "--runs-dir", runs, "--json").out)
    assert sorted(x["id"] for x in listed) == ["a", "b"] and {x["step"] for x in listed} == {40}
    r = cli("resume", "a", "--steps", "60", "--runs-dir", runs, "--no-ui", "--quiet")
    assert r.code == 0 and "finished at step 60" in r.out, r.err
    assert cli("doctor", "--runs-dir", runs).out.startswith(f"store {runs / STORE_FILENAME}: healthy")


def test_bad_json_in_a_spec_is_named_and_fixed_in_place(cli, runs):
    _bad_spec_json(runs / STORE_FILENAME)
    listed = {x["id"]: x["status"] for x in json.loads(cli("runs", "--runs-dir", runs, "--json").out)}
    assert listed == {"a": "damaged", "b": "finished"}  # the other runs still list
    _one_line(cli("show", "a", "--runs-dir", runs), "spec of run 'a' is not valid JSON", "learnsys doctor")
    r = cli("doctor", "--runs-dir", runs)
    assert r.code == 0 and "fixed the damaged spec of 1 run(s) from their folders: a" in r.out, r.out
    assert not [p for p in runs.iterdir() if ".damaged-" in p.name]  # a healthy file is not moved
    assert json.loads(cli("show", "a", "--runs-dir", runs, "--json").out)["spec"]["steps"] == 40


def test_an_empty_store_file_lists_nothing_and_says_where_the_runs_are(cli, runs):
    for suffix in ("", "-wal", "-shm"):
        (runs / f"{STORE_FILENAME}{suffix}").unlink(missing_ok=True)
    (runs / STORE_FILENAME).write_bytes(b"")
    r = cli("runs", "--runs-dir", runs)
    assert r.code == 0 and "2 run folder(s)" in r.err and "learnsys doctor" in r.err
    _one_line(cli("show", "b", "--runs-dir", runs), "has a folder", "no row", "learnsys doctor")
    r = cli("doctor", "--runs-dir", runs)
    assert r.code == 0 and "empty file" in r.out and "rebuilt the row of 2" in r.out


def test_a_deleted_store_then_landscape_graph_and_resume_just_work(cli, runs):
    for suffix in ("", "-wal", "-shm"):
        (runs / f"{STORE_FILENAME}{suffix}").unlink(missing_ok=True)
    r = cli("landscape", "a", "--resolution", "5", "--runs-dir", runs, "--json")
    assert r.code == 0, r.err
    assert cli("graph", "b", "--runs-dir", runs).code == 0
    r = cli("resume", "b", "--steps", "50", "--runs-dir", runs, "--no-ui", "--quiet")
    assert r.code == 0 and "finished at step 50" in r.out, r.err
    store = RunStore(runs / STORE_FILENAME, readonly=True)
    assert store.artifact_names("a") == ["landscape"] and store.artifact_names("b") == ["graph"]
    assert store.run("b")["status"] == "finished" and store.series("b", "train/loss")[0] == list(range(41, 51))


def test_a_read_only_runs_dir_reads_and_says_so_for_writes(trained, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(trained, runs)
    for suffix in ("-wal", "-shm"):  # as a clean shutdown leaves it: SQLite has no -shm to share
        (runs / f"{STORE_FILENAME}{suffix}").unlink(missing_ok=True)
    make_readonly(runs)
    try:
        reads = [["runs"], ["show", "a"], ["metrics", "a"]]
        writes = [(["resume", "a", "--steps", "60", "--no-ui", "--quiet"], "writable"),
                  (["landscape", "a", "--resolution", "5"], "read-only here"), (["graph", "b"], "read-only here"),
                  (["train", *SPEC, "--run-id", "c"], "not writable")]
        results = run_reader([[*v, "--runs-dir", runs] for v in reads + [w for w, _ in writes]], tmp_path)
        for r in results[:len(reads)]:
            assert r["code"] == 0 and not r["traceback"] and not r["err"], r
        assert "40,train/loss," in results[2]["out"]
        for r, (verb, words) in zip(results[len(reads):], writes):
            lines = r["err"].strip().splitlines()
            assert r["code"] != 0 and len(lines) == 1 and words in lines[0] and not r["traceback"], (verb, r)
    finally:
        for p in [runs, *runs.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


@pytest.mark.parametrize("run_id", ["learnsys.sqlite", "learnsys.sqlite-wal", "learnsys.sqlite-shm",
                                    "learnsys.sqlite-journal", "dashboard.log"])
def test_ids_that_would_break_the_runs_dir_are_refused(cli, runs, run_id):
    before = sorted(p.name for p in runs.iterdir())
    _one_line(cli("train", *SPEC, "--run-id", run_id, "--runs-dir", runs), "reserved")
    assert sorted(p.name for p in runs.iterdir()) == before
    assert cli("runs", "--runs-dir", runs).code == 0


def test_tensorboard_without_its_package_is_refused_before_the_run_exists(cli, runs_dir, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # what `import` sees without the package
    _one_line(cli("train", *SPEC, "--run-id", "tb", "--tensorboard", tmp_path / "tb", "--runs-dir", runs_dir),
              "needs the tensorboard package")
    assert not (runs_dir / "tb").exists() and not (tmp_path / "tb").exists()
    assert RunStore(runs_dir / STORE_FILENAME, readonly=True).runs() == []


@pytest.fixture
def small_disk(tmp_path):
    """A fresh 512 KB tmpfs per call (mounting needs root; the suite runs as root on the project's
    machines). Fresh, because a process that failed may still hold deleted files of the last one."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounts = []

    def new_disk():
        mount = tmp_path / f"disk{len(mounts)}"
        mount.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], check=True)
        mounts.append(mount)
        return mount

    try:
        yield new_disk
    finally:
        for mount in mounts:
            subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    w = Worker(tmp_path_factory.mktemp("worker"))
    yield w
    w.close()


@pytest.mark.slow
@pytest.mark.parametrize("store_first", [False, True])
def test_a_full_disk_at_creation_leaves_no_half_made_run(small_disk, cli, worker, store_first):
    for free_kb in (40, 70, 100, 150, 250):
        disk = small_disk()
        runs = disk / "runs"
        if store_first:
            RunStore(runs / STORE_FILENAME).close()
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        filler.write_bytes(b"\0" * max(0, free - free_kb * 1024))
        run_id = f"r{free_kb}"
        r = race([worker], [["train", *SPEC, "--run-id", run_id, "--runs-dir", runs]], delay=0)[0]
        filler.unlink()
        assert not [p for p in runs.iterdir() if p.name.startswith(".new-")], r
        folder = runs / run_id
        listed = {x["id"]: x["status"] for x in json.loads(cli("runs", "--runs-dir", runs, "--json").out)}
        if r["code"] == 0:
            assert listed[run_id] == "finished"
        elif folder.exists():  # created, then failed on the full disk: whole, listed, never 'running'
            assert (folder / "spec.toml").is_file() and (folder / "meta.json").is_file(), r
            assert listed.get(run_id) in ("created", "failed", "interrupted", "stopped"), (listed, r)
            assert cli("resume", run_id, "--runs-dir", runs, "--no-ui", "--quiet").code == 0
        else:  # refused at creation: one line, and the id stays free
            lines = r["err"].strip().splitlines()
            assert len(lines) == 1 and "full" in lines[0] and not r["traceback"], r
            assert run_id not in listed
