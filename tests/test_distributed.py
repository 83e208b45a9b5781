"""Distributed data parallel on torchrun (issue 10), with real processes on 127.0.0.1 (gloo on
the CPU): 2 processes against 1 with the same global batch, kill -9 of the whole group and
resume, a different world size refused, two "nodes" meeting through c10d rendezvous."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import learnsys
from learnsys.train.checkpoint import read_verified

from .conftest import REPO
from .resume_checks import STATE_PARTS, assert_bitwise
from .test_resume_kill import store_step

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SPEC = ["--data", "synthetic-linear", "--data-args", "size=400", "features=4", "--model", "mlp:16", "--batch-size",
        "40", "--optimizer", "adam", "--lr", "0.01", "--epochs", "12", "--checkpoint-every", "10",
        "--checkpoint-seconds", "0", "--no-ui", "--quiet"]
TOTAL = 12 * 10   # 400 rows / 40 = 10 steps an epoch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, nproc: int = 2, extra: tuple = ()) -> subprocess.Popen:
    """`torchrun --nproc-per-node N -m learnsys ARGS` on loopback, in its own process group."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), *extra]
    if not extra:
        cmd += ["--master-addr", "127.0.0.1", "--master-port", str(free_port())]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([*cmd, "-m", "learnsys", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, stdin=subprocess.DEVNULL)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (torchrun's workers run in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_group(proc: subprocess.Popen) -> None:
    """kill -9 of the whole group at once: the agent and every worker."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(proc: subprocess.Popen, timeout: float = 180) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    runs = tmp_path / "runs"
    finish(torchrun("train", *SPEC, "--runs-dir", str(runs), "--run-id", "two"))
    one = learnsys.fit("mlp:16", "synthetic-linear", data_args={"size": 400, "features": 4}, batch_size=40,
                       optimizer="adam", lr=0.01, epochs=12, runs_dir=runs, run_id="one")
    two = learnsys.load_run("two", runs_dir=runs)
    assert two.folder.meta()["world_size"] == 2 and two.record()["status"] == "finished"
    # Not bitwise: each rank's gradient is the mean over its 20 rows, and DDP's all-reduce adds the
    # two means in its own order, where one process sums the 40 rows in one; the difference is
    # float32 rounding (~1e-7), and Adam carries it on for 120 steps.
    for k, v in one.params().items():
        torch.testing.assert_close(two.params()[k], v, rtol=1e-4, atol=1e-5)


def test_kill_9_of_the_whole_group_then_resume_is_bitwise_the_uninterrupted_run(tmp_path, cli):
    runs = tmp_path / "runs"
    reference = torchrun("train", *SPEC, "--runs-dir", str(runs), "--run-id", "ref")
    finish(reference)
    for i, target in enumerate((23, 67)):  # mid-epoch, off the checkpoint schedule
        since = time.time()
        args = ("train", *SPEC, "--run-id", "victim") if i == 0 else ("resume", "victim", "--no-ui", "--quiet")
        proc = torchrun(*args, "--pace", "60", "--runs-dir", str(runs))  # slow enough to be caught mid-run
        deadline = time.monotonic() + 120
        while store_step(runs, "victim", since) < target:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.005)
        kill_group(proc)   # the agent and both workers at once
        proc.communicate(timeout=60)
    finish(torchrun("resume", "victim", "--no-ui", "--quiet", "--runs-dir", str(runs)))
    a = read_verified(runs / "ref" / "checkpoints" / f"step-{TOTAL:08d}.pt")
    b = read_verified(runs / "victim" / "checkpoints" / f"step-{TOTAL:08d}.pt")
    for part in STATE_PARTS:
        assert_bitwise(a[part], b[part], part)
    assert len(a["rng_ranks"]) == 2   # every rank's generators are in the checkpoint
    ma = cli("metrics", "ref", "--csv", "--runs-dir", runs).out.splitlines()
    mb = cli("metrics", "victim", "--csv", "--runs-dir", runs).out.splitlines()
    assert ma == mb and len(ma) > TOTAL


def test_a_different_world_size_on_resume_is_one_line(tmp_path, cli):
    runs = tmp_path / "runs"
    finish(torchrun("train", *SPEC[:-4], "--epochs", "2", "--no-ui", "--quiet", "--runs-dir", str(runs),
                    "--run-id", "w2"))
    r = cli("resume", "w2", "--runs-dir", runs, "--no-ui", "--epochs", "3")
    assert r.code == 2 and "trained by 2 process(es) and is resumed by 1" in r.err and r.err.count("\n") == 1


def test_two_nodes_meet_through_c10d_rendezvous_on_loopback(tmp_path):
    runs = tmp_path / "runs"
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [torchrun("train", *SPEC[:-4], "--epochs", "2", "--no-ui", "--quiet", "--runs-dir", str(runs),
                      "--run-id", "nodes", nproc=1,
                      extra=("--nnodes", "2", "--node-rank", str(rank), "--rdzv-backend", "c10d", "--rdzv-endpoint",
                             endpoint, "--rdzv-id", "learnsys-test"))
             for rank in (0, 1)]
    outs = [finish(p) for p in nodes]
    assert sum("finished at step 20" in o for o in outs) == 1   # rank 0 alone reports
    run = learnsys.load_run("nodes", runs_dir=runs)
    assert run.folder.meta()["world_size"] == 2 and run.record()["status"] == "finished"
