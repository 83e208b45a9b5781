"""Helpers for the store tests: CLI workers that start a verb at an agreed instant (races),
and a reader that cannot write (a read-only runs dir, even when the tests run as root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .conftest import REPO

# A long-lived process with learnsys (and torch) imported once: each command line on stdin
# is {"at": unix time, "argv": [...]}; it waits until `at`, runs the CLI in-process and
# answers {"code", "err", "traceback"}; {"fork": argv} forks a child that runs the CLI and
# answers its pid at once (the test kills it).
WORKER = r"""
import contextlib, io, json, os, sys, time, traceback
from learnsys.cli import main
import torch  # imported, never used before a fork
print(json.dumps({"ready": os.getpid()}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if "fork" in cmd:
        pid = os.fork()
        if pid == 0:
            sys.stdin.close()
            out = open(os.devnull, "w")
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = main(cmd["fork"])
            os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        continue
    if cmd.get("reap"):
        os.waitpid(cmd["reap"], 0)
        print(json.dumps({"reaped": cmd["reap"]}), flush=True)
        continue
    err, out, tb = io.StringIO(), io.StringIO(), ""
    time.sleep(max(0.0, cmd["at"] - time.time()))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(cmd["argv"])
    except BaseException:
        code, tb = -1, traceback.format_exc()
    print(json.dumps({"code": code, "err": err.getvalue(), "out": out.getvalue(), "traceback": tb}), flush=True)
"""


class Worker:
    def __init__(self, cwd: Path):
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.pid = self._answer()["ready"]

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"worker {self.proc.pid} died (exit {self.proc.poll()})")
        return json.loads(line)

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def result(self) -> dict:
        return self._answer()

    def fork(self, argv: list[str]) -> int:
        self.send(fork=[str(a) for a in argv])
        return self._answer()["pid"]

    def reap(self, pid: int) -> None:
        self.send(reap=pid)
        self._answer()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def race(workers: list[Worker], argvs: list[list], delay: float = 0.3) -> list[dict]:
    """Start argvs[i] on workers[i] at the same instant; their results."""
    at = time.time() + delay
    for w, argv in zip(workers, argvs):
        w.send(at=at, argv=[str(a) for a in argv])
    return [w.result() for w in workers]


def make_readonly(root: Path) -> None:
    """Everything under root readable, nothing writable (for `run_reader`)."""
    for p in [root, *root.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


READER = r"""
import contextlib, io, json, sys, traceback
from learnsys.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err, tb = io.StringIO(), io.StringIO(), ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except BaseException:
        code, tb = -1, traceback.format_exc()
    results.append({"code": code, "out": out.getvalue(), "err": err.getvalue(), "traceback": tb})
print(json.dumps(results))
"""


def run_reader(argvs: list[list], cwd: Path, timeout: float = 300) -> list[dict]:
    """Run each CLI argv in one process that may read but not write `make_readonly` files:
    root without the capabilities that let it write anything (setpriv), else this user.
    Returns [{"code", "out", "err", "traceback"}] in order."""
    prefix = []
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", "--"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([*prefix, sys.executable, "-c", READER, json.dumps([[str(a) for a in v] for v in argvs])],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])
