"""The kill harness (issue 3): SIGKILL a training process at seeded-random moments, inside a
checkpoint write, and stop it with SIGTERM/SIGINT; `learnsys resume` after each; the end
must equal an uninterrupted run bit for bit: every parameter and optimiser/scheduler state
tensor (read from the final checkpoints), `learnsys metrics --csv` row for row, predictions.

Real processes (`learnsys train ... --no-ui --quiet`), real signals. A kill inside a write runs
the same CLI through tests/checkpoint_pause.py, which sets the Checkpointer's hooks so that each
write sleeps at one phase (before the renames, between the sidecar's and the .pt's, before the
manifest) and the kill lands exactly there; production code reads no test switch.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from learnsys.store import RunStore
from learnsys.train.checkpoint import MANIFEST, read_verified

from .conftest import REPO
from .resume_checks import STATE_PARTS, assert_bitwise

# 320 train rows / batch 16 = 20 steps per epoch, 20 epochs = 400 steps; dev evaluation every
# 10 steps; Adam with StepLR; a checkpoint every 25 steps, keeping 2.
SPEC = ["--data", "synthetic-linear", "--data-args", "size=400", "features=4", "noise=0.3", "--dev", "0.2",
        "--model", "mlp:32,32", "--optimizer", "adam", "--lr", "0.01", "--scheduler", "StepLR",
        "--scheduler-args", "step_size=3", "gamma=0.7", "--batch-size", "16", "--epochs", "20",
        "--eval-every", "10", "--checkpoint-every", "25", "--checkpoint-seconds", "0", "--keep-checkpoints", "2", "--seed", "3"]
TOTAL_STEPS = 400
ASYNC_FROM = 4  # the kills from this one on hit a run with --async-checkpoint (the last two in-write kills included)
PREDICT_X = ["0.5", "-1", "2", "0.25", "3", "0", "-2", "1.5", "0.1", "0.2", "0.3", "0.4"]  # 3 rows x 4 features


def start(runs: Path, *args: str, pause: str | None = None) -> subprocess.Popen:
    """`learnsys ARGS` as a real process; `pause` (a phase) makes each checkpoint write sleep there."""
    program = ["-m", "learnsys"] if pause is None else ["-m", "tests.checkpoint_pause", pause, "30"]
    return subprocess.Popen([sys.executable, *program, *args, "--runs-dir", str(runs), "--no-ui", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            cwd=REPO)


def store_step(runs: Path, run_id: str, since: float) -> int:
    """The step a process started at `since` has reported to the store (-1 before it has)."""
    try:
        con = sqlite3.connect(f"file:{runs / 'learnsys.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT step, status, updated FROM runs WHERE id = ?", (run_id,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return -1
    return row[0] if row is not None and row[1] == "running" and row[2] >= since else -1


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 60) -> bool:
    """Poll `condition` until it holds (True) or the process ended first (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    proc.kill()
    raise AssertionError(f"timed out waiting for {what}")


def in_write(folder: Path, phase: str, since: float) -> bool:
    """Whether a checkpoint write (begun after `since`) is at `phase` right now."""
    names = set()
    for p in folder.iterdir() if folder.is_dir() else ():
        try:
            if p.stat().st_mtime >= since:
                names.add(p.name)
        except FileNotFoundError:
            pass
    if phase == "before-rename":
        return any(n.startswith(".step-") and n.endswith(".pt.json.tmp") for n in names)
    if phase == "between-renames":  # the sidecar is in place, its .pt still a temp file
        return any(n.startswith("step-") and n.endswith(".pt.json") and n[:-5] not in names
                   and f".{n[:-5]}.tmp" in names for n in names)
    try:
        indexed = {e["file"] for e in json.loads((folder / MANIFEST).read_text())["checkpoints"]}
    except (OSError, ValueError, KeyError):
        indexed = set()
    return any(n.startswith("step-") and n.endswith(".pt") and n not in indexed for n in names)


def final_state(runs: Path, run_id: str) -> dict:
    return read_verified(runs / run_id / "checkpoints" / f"step-{TOTAL_STEPS:08d}.pt")


def assert_same_run(cli, runs: Path, ref: str, other: str) -> None:
    a, b = final_state(runs, ref), final_state(runs, other)
    for part in STATE_PARTS:
        assert_bitwise(a[part], b[part], part)
    ma, mb = cli("metrics", ref, "--csv", "--runs-dir", runs), cli("metrics", other, "--csv", "--runs-dir", runs)
    assert ma.code == mb.code == 0
    rows = ma.out.splitlines()
    assert len(rows) > 2 * TOTAL_STEPS and rows == mb.out.splitlines()
    steps = [int(r.split(",")[0]) for r in rows[1:] if r.split(",")[1] == "train/loss"]
    assert steps == list(range(1, TOTAL_STEPS + 1))  # no step twice, none missing
    pa = cli("predict", ref, "--x", *PREDICT_X, "--json", "--runs-dir", runs)
    pb = cli("predict", other, "--x", *PREDICT_X, "--json", "--runs-dir", runs)
    assert pa.code == pb.code == 0
    assert json.loads(pa.out)["predictions"] == json.loads(pb.out)["predictions"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_anywhere_then_resume_is_bitwise_the_uninterrupted_run(tmp_path, cli):
    runs = tmp_path / "runs"
    reference = start(runs, "train", *SPEC, "--run-id", "reference")  # alongside the victim's first life

    rng = random.Random(int(os.environ.get("LEARNSYS_KILL_SEED", "20261127")))  # another seed: other moments
    # Ten SIGKILLs once the run has passed a seeded-random step (plus a random few ms, so the
    # moment is arbitrary: mid-step, mid-evaluation, mid-flush); three inside checkpoint writes
    # (one at each phase); one SIGTERM and one SIGINT (graceful stops). Half of them with
    # asynchronous checkpoints.
    plan: list[tuple] = [("kill", s) for s in sorted(rng.sample(range(1, TOTAL_STEPS - 60), 10))]
    plan.insert(2, ("kill-in-write", "before-rename"))
    plan.insert(4, ("kill-in-write", "between-renames"))
    plan.insert(6, ("kill-in-write", "before-manifest"))
    plan.insert(9, ("stop", signal.SIGTERM, plan[8][1] + 3))
    plan.insert(12, ("stop", signal.SIGINT, plan[11][1] + 3))
    folder = runs / "victim" / "checkpoints"
    killed = stopped = in_writes = 0
    for i, action in enumerate(plan):
        args = ("train", *SPEC, "--run-id", "victim") if i == 0 else ("resume", "victim")
        if i == ASYNC_FROM:
            args += ("--async-checkpoint",)  # an allowed change; from here on checkpoints are written in the background
        since = time.time()
        proc = start(runs, *args, pause=action[1] if action[0] == "kill-in-write" else None)
        if action[0] == "kill-in-write":
            reached = wait_for(lambda: in_write(folder, action[1], since), proc, f"a checkpoint write at {action[1]}")
            time.sleep(0.3)  # well inside the 30 s pause
        else:
            target = action[-1]
            reached = wait_for(lambda: store_step(runs, "victim", since) >= target, proc, f"step {target}")
        assert reached, f"the run ended before {action}: {proc.communicate()}"
        if action[0] == "stop":
            proc.send_signal(action[1])
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "resume with: learnsys resume victim" in out, out
            assert RunStore(runs / "learnsys.sqlite", readonly=True).run("victim")["status"] == "stopped"
            stopped += 1
        else:
            time.sleep(rng.uniform(0, 0.02) if action[0] == "kill" else 0)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            assert proc.returncode == -signal.SIGKILL, f"{action}: the process ended by itself first"
            killed += 1
            in_writes += action[0] == "kill-in-write"
            # the store still says 'running', but its process is gone
            assert RunStore(runs / "learnsys.sqlite", readonly=True).run("victim")["status"] == "interrupted"
    assert killed >= 13 and in_writes == 3 and stopped == 2

    ref_out, ref_err = reference.communicate(timeout=300)
    assert reference.returncode == 0, ref_err
    last = start(runs, "resume", "victim")
    out, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    assert f"finished at step {TOTAL_STEPS}" in out
    assert RunStore(runs / "learnsys.sqlite", readonly=True).run("victim")["status"] == "finished"
    assert_same_run(cli, runs, "reference", "victim")
