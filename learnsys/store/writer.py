"""StoreWriter: metric rows, events and run updates written on a background thread, in batches.

`put_metrics`/`put_series`/`put_event` only append to a queue, so the training loop never
waits on disk. `flush()` is a barrier: when it returns, everything put before it is committed.
A write error is kept and raised from the next `flush()`/`close()` as a StoreError, never lost
silently. Integers are checked on the caller's thread, so a step or total too large for SQLite
is refused where it was given.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import StoreError
from .chunks import check_int
from .runstore import RunStore


class StoreWriter:
    def __init__(self, store_path: str | Path):
        self._store_path = Path(store_path)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        # Opened here, on the caller's thread, so the connection's set-up does not run beside
        # the first steps of a training loop (check_same_thread is off for store connections).
        self._store = RunStore(self._store_path)
        self._thread = threading.Thread(target=self._work, name="learnsys-store-writer", daemon=True)
        self._thread.start()

    def put_metrics(self, run_id: str, rows: Sequence[tuple[str, int, float]]) -> None:
        self._queue.put(("metrics", run_id, rows))

    def put_series(self, run_id: str, series: dict[str, tuple[Sequence[int], Sequence[float]]]) -> None:
        self._queue.put(("series", run_id, series))

    def put_event(self, run_id: str, step: int, kind: str, message: str, data: dict | None = None) -> None:
        self._queue.put(("event", run_id, (check_int("step", step), kind, message, data, time.time())))

    def put_run_update(self, run_id: str, **fields: Any) -> None:
        for name in ("step", "epoch", "total_steps"):
            if name in fields:
                fields[name] = check_int(name, fields[name])
        self._queue.put(("run", run_id, fields))

    def flush(self, timeout: float = 60.0) -> None:
        done = threading.Event()
        self._queue.put(("barrier", None, done))
        if not done.wait(timeout):
            raise StoreError(f"The run store {self._store_path} did not commit within {timeout:.0f} s.")
        self._raise_error()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(("close", None, None))
            self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, StoreError):  # raised again here, on the caller's thread, as what it was
                raise copy.copy(error).with_traceback(None)
            raise StoreError(f"Writing to the run store {self._store_path} failed: {error}")

    def _work(self) -> None:
        store = self._store
        try:
            while True:
                items = [self._queue.get()]
                while True:  # drain whatever else is waiting
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if self._write(store, items):
                    return
        finally:
            store.close()

    def _write(self, store: RunStore, items: list) -> bool:
        closing = False
        barriers = []
        for kind, run_id, payload in items:
            try:
                if kind == "series":
                    store.append_series(run_id, payload)
                elif kind == "metrics":
                    store.append_metrics(run_id, payload)
                elif kind == "event":
                    step, ev_kind, message, data, at = payload
                    store.add_event(run_id, step, ev_kind, message, data, at=at)
                elif kind == "run":
                    if self._error is not None and payload.get("status") == "finished":
                        # rows of this run were lost (a full disk): the store must not call it whole
                        lost = str(self._error).splitlines()[0] if str(self._error) else type(self._error).__name__
                        payload = {**payload, "status": "failed", "message": f"rows were not written: {lost}"}
                    store.update_run(run_id, **payload)
                elif kind == "barrier":
                    barriers.append(payload)
                elif kind == "close":
                    closing = True
            except Exception as e:  # kept and re-raised on the loop's thread at the next flush
                self._error = self._error or e
        for done in barriers:
            done.set()
        return closing
