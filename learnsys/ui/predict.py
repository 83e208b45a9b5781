"""Predictions for the dashboard, from a child process: the dashboard never imports torch.

    worker = PredictWorker()
    worker.predict("runs/<id>", [[4.0], [5.0]])   # -> [[7.99...], [9.98...]]  (blocking)
    worker.close()

The first call starts `python -m learnsys.inference_worker` (WORKER_MODULE; the
architecture test names it) and keeps it for the next ones; requests and answers are one
JSON line each over its stdin and stdout, one request at a time. A worker that died or did
not answer within TIMEOUT_S is killed and the next call starts a new one. Its stderr goes
where the dashboard's goes (dashboard.log).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time

from ..errors import LearnsysError

WORKER_MODULE = "learnsys.inference_worker"
TIMEOUT_S = 120.0  # the first request imports torch and loads the model


class PredictionError(LearnsysError):
    """The model could not predict on these inputs (the caller's to fix); args[0] is one line."""


class WorkerUnavailable(LearnsysError):
    """The worker process could not answer; args[0] is one line."""


class PredictWorker:
    def __init__(self, timeout_s: float = TIMEOUT_S):
        self.timeout_s = timeout_s
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.starts = 0

    def predict(self, folder: str, rows: list[list[float]]) -> list:
        request = (json.dumps({"folder": folder, "rows": rows}) + "\n").encode()
        with self._lock:
            process = self._running()
            try:
                process.stdin.write(request)
                process.stdin.flush()
                line = self._readline(process)
            except (OSError, WorkerUnavailable) as e:
                self._stop()
                reason = e.args[0] if isinstance(e, WorkerUnavailable) else "it exited"
                raise WorkerUnavailable(f"The prediction worker stopped ({reason}); try again, and see "
                                        "dashboard.log if it keeps failing.") from None
        try:
            reply = json.loads(line)
        except ValueError:
            raise WorkerUnavailable("The prediction worker sent something that is not JSON; see dashboard.log.") from None
        if "error" in reply:
            raise (PredictionError if reply.get("kind") == "input" else WorkerUnavailable)(reply["error"])
        return reply["predictions"]

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _running(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen([sys.executable, "-m", WORKER_MODULE], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, bufsize=0)
            self.starts += 1
        return self._process

    def _readline(self, process: subprocess.Popen) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        fd = process.stdout.fileno()
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerUnavailable(f"no answer within {self.timeout_s:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise WorkerUnavailable("it exited")
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                return b"".join(chunks)

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
