"""The dashboard's view of the run store file: one read-only RunStore per thread, reopened
when the file is replaced, and what to tell the user when the store cannot be read.

    reader = StoreReader("runs")
    store = reader()             # None while runs/learnsys.sqlite does not exist
    reader.generation            # grows each time a different file (inode) is opened
    reader.health()              # {"state": "ok" | "missing" | "damaged" | "busy", ...}

SQLite connections are not shared across threads, so each thread keeps its own. Each call
stats the file (a few microseconds): a store that was deleted and made again (`rm -rf runs`,
then a new `learnsys train`) has a new inode, and the old connection, which still reads the
deleted file, is closed and a new one opened. `generation` lets caches and live feeds
notice that their rows came from another file. A connection is also opened afresh when the
file's size or time changed (its WAL was checkpointed into it, a few times a run, or it
was written from outside SQLite): a WAL connection trusts its page cache while the WAL
index is unchanged, so it would not see damage done to the file under it.

A damaged store (truncated, random bytes, empty, a table dropped, a spec that is not JSON)
raises sqlite3.DatabaseError or a JSON error from the store's reads; `StoreUnavailable`
turns it into one line for an HTTP 503, and the reader remembers it for `/api/health`.
A store file younger than CREATING_S that is empty or lacks a table is a store that the
first `learnsys train` is creating (its tables appear one by one): "starting", not damage.
A file whose schema has not committed yet reads as an empty store in memory, which is never
kept: the next call opens the file again (its commits go to the WAL, so the file itself may
not change for a long while).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..store import STORE_FILENAME, RunStore, StoreError

DOCTOR = "run `learnsys doctor` to check it and rebuild the run rows from the run folders"
REMEMBER_S = 30.0   # how long a failed read keeps /api/health reporting the damage
CREATING_S = 5.0    # an empty store, or one without its tables, this young is being made, not damaged
EMPTY = "the file is empty"


class StoreUnavailable(Exception):
    """The store exists but cannot be read; args[0] is one line saying what and what to do."""

    def __init__(self, message: str, state: str = "damaged"):
        super().__init__(message)
        self.state = state


def describe(error: BaseException, path: Path) -> StoreUnavailable:
    """One line for a read that failed with `error` on the store at `path`."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, sqlite3.OperationalError) and "locked" in text:
        return StoreUnavailable(f"The run store {path} is busy ({text}); try again in a moment.", "busy")
    if isinstance(error, json.JSONDecodeError):
        return StoreUnavailable(f"The run store {path} holds a value that is not JSON ({text}): {DOCTOR}.")
    try:
        st = path.stat()
        size, age = st.st_size, time.time() - st.st_mtime
    except OSError:
        size, age = None, None
    # the reader saw it empty (it may have grown since: this stat came later), or without its tables
    if (size == 0 or text == EMPTY or "no such table" in text) and age is not None and age < CREATING_S:
        return StoreUnavailable(f"The run store {path} is being created; try again in a moment.", "starting")
    if size == 0:
        return StoreUnavailable(f"The run store {path} is empty (0 bytes): {DOCTOR}.")
    return StoreUnavailable(f"The run store {path} is damaged ({text}): {DOCTOR}.")


class StoreReader:
    """Read-only RunStores per thread over `runs_dir/learnsys.sqlite`; see the module docstring."""

    def __init__(self, runs_dir: str | Path):
        self.path = Path(runs_dir).resolve() / STORE_FILENAME
        self._local = threading.local()
        self._lock = threading.Lock()
        self._generations: dict[tuple[int, int], int] = {}
        self.generation = 0
        self._epoch = 0  # grows when a read failed: every thread then opens its connection afresh
        self._problem: tuple[int, tuple, float, StoreUnavailable] | None = None  # generation, file, when, what

    def __call__(self) -> RunStore | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._drop()
            return None
        if st.st_size == 0:  # SQLite reads an empty file as an empty store: here it is one being made, or damage
            self._drop()
            raise self.failed(sqlite3.DatabaseError(EMPTY))
        inode = (st.st_dev, st.st_ino)
        written = (st.st_size, st.st_mtime_ns)  # the file itself changed: a WAL checkpoint, or someone else
        local = getattr(self._local, "open", None)
        if local is not None and local[1] == inode and local[3] == self._epoch and local[4] == written:
            return local[0]
        self._drop()
        with self._lock:
            gen = self._generations.get(inode)
            if gen is None:
                gen = self._generations[inode] = len(self._generations) + 1
                self._problem = None  # a new file: earlier damage is not its damage
            self.generation = max(self.generation, gen)
        try:
            store = RunStore(self.path, readonly=True)
        except (StoreError, sqlite3.Error) as e:
            raise self.failed(e) from None
        if store.stand_in:
            # A file a first `train` is making has no tables yet, and reads as an empty store in
            # memory. Not kept: in WAL mode the file itself may not change again for the whole
            # run (commits go to the WAL), so this thread would have seen no runs until then.
            return store
        self._local.open = (store, inode, gen, self._epoch, written)
        return store

    def current_generation(self) -> int:
        """The generation of the file this thread reads (after a call), else the newest seen."""
        local = getattr(self._local, "open", None)
        return local[2] if local is not None else self.generation

    def _drop(self) -> None:
        local = getattr(self._local, "open", None)
        if local is not None:
            self._local.open = None
            try:
                local[0].close()
            except sqlite3.Error:
                pass

    def failed(self, error: BaseException) -> StoreUnavailable:
        """Remember a failed read (for health) and return what to raise."""
        problem = error if isinstance(error, StoreUnavailable) else describe(error, self.path)
        if problem.state == "damaged":
            self._problem = (self.current_generation(), self._signature(), time.monotonic(), problem)
        if isinstance(error, sqlite3.Error):
            # A connection serves pages from its cache, so others may not have met the damage
            # yet; and a damaged file may be repaired: every thread opens it afresh next time.
            self._epoch += 1
        return problem

    def health(self) -> dict:
        """The store's state for /api/health: a small read of each table on a new connection
        (an open one answers from its page cache and can miss damage done to the file since),
        and any damage a request met in the last REMEMBER_S seconds."""
        if not self.path.exists():
            return {"state": "missing", "path": str(self.path),
                    "message": "No run store yet: it appears with the first `learnsys train`."}
        store = None
        try:
            self()  # notice a replaced file (the generation) before probing it
            store = RunStore(self.path, readonly=True)
            runs = store.runs()
            store.last_metric_id()
            probe = runs[0]["id"] if runs else "-"
            store.metric_names(probe), store.events(probe), store.artifact_names(probe)
        except StoreUnavailable as e:
            return {"state": e.state, "path": str(self.path), "error": e.args[0]}
        except (StoreError, sqlite3.Error, ValueError) as e:
            problem = self.failed(e)
            return {"state": problem.state, "path": str(self.path), "error": problem.args[0]}
        finally:
            if store is not None:
                store.close()
        recent = self._problem  # a request met damage that this small probe did not reach
        if (recent is not None and recent[0] == self.current_generation() and recent[1] == self._signature()
                and time.monotonic() - recent[2] < REMEMBER_S):
            return {"state": "damaged", "path": str(self.path), "error": recent[3].args[0], "runs": len(runs)}
        return {"state": "ok", "path": str(self.path), "runs": len(runs)}

    def _signature(self) -> tuple:
        """The file's size and modification time: a repaired file has others (a probe takes
        about 0.5 ms with 20 runs, so health probes on every call rather than cache)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return ()
        return (st.st_size, st.st_mtime_ns)
