"""The run store: one SQLite file (WAL mode) beside the run folders, holding every run's row,
its metric series, events and artifacts. It owns all SQL in learnsys and imports no torch,
so the dashboard and `runs`/`metrics` read it without a deep-learning framework.

    store = RunStore("runs/learnsys.sqlite")
    store.create_run("lively-otter-1", kind="train", spec={...}, folder="runs/lively-otter-1")
    writer = StoreWriter(store.path)            # background thread: the loop never waits on disk
    writer.put_series("lively-otter-1", {"train/loss": ([1, 2], [1.5, 1.2])})
    writer.flush()                              # barrier: everything put so far is committed
    store.series_arrays("lively-otter-1", "train/loss")   # -> (steps, values) numpy arrays

Modules, one idea each:
    names.py    the store's file name, what a run id may be, reserved ids
    schema.py   the tables, connections, upgrade on open, one-line errors for damage
    migrate.py  schema 1 (a row per point) -> schema 2 (chunks), in place
    chunks.py   a series as chunks of binary arrays: append, read, truncate, merge
    runstore.py RunStore: runs, series, events and artifacts
    writer.py   StoreWriter: the background writer the store sink uses
    lock.py     one writer per run: the run folder's OS lock, who holds it, 'interrupted'
    recover.py  a run's row rebuilt from its folder (the folder is the source of truth)
"""

from ..errors import RunIdError, RunInUseError, StoreError
from .lock import LOCK_FILENAME, LockHolder, RunLock, in_use_message, live_status, lock_holder, training_pid
from .names import RUN_ID_PATTERN, STORE_FILENAME, check_run_id, is_reserved
from .recover import row_from_folder, run_folders
from .runstore import RunStore
from .schema import SCHEMA_VERSION, connect
from .writer import StoreWriter

__all__ = ["LOCK_FILENAME", "RUN_ID_PATTERN", "SCHEMA_VERSION", "STORE_FILENAME", "LockHolder", "RunIdError",
           "RunInUseError", "RunLock", "RunStore", "StoreError", "StoreWriter", "check_run_id", "connect",
           "in_use_message", "is_reserved", "live_status", "lock_holder", "row_from_folder", "run_folders",
           "training_pid"]
