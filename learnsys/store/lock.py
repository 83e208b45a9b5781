"""One writer per run: an exclusive OS lock on the run folder, and who holds it.

    with RunLock(folder):        # RunInUseError, naming the holder's pid, if another process trains it
        ...train...
    lock_holder(folder)          # LockHolder(pid, host, started) or None; never takes the lock
    live_status("running", folder)   # 'interrupted' when nobody holds the lock: the trainer was killed

The lock is an open file description lock (Linux `F_OFD_SETLK`) on `<run folder>/lock`. The
kernel drops it when the process dies, however it dies (kill -9, a crash, power loss: there
is no pid file to go stale). Unlike a classic POSIX lock it is not dropped when the same
process opens and closes the file elsewhere (a dashboard thread asking who holds it). A
reader asks with `F_OFD_GETLK`, which never takes the lock, so a reader cannot make a trainer
fail. An OFD lock does not report its pid, so the holder writes its pid into the file once it
has the lock. A forked child (a DataLoader worker) closes its copy of the descriptor at fork,
so the lock does not outlive the trainer in its workers. Without OFD locks (not Linux) classic
POSIX locks are used the same way. The lock file is never deleted: a process that opened it
before a deletion would lock a file nobody else sees.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import RunInUseError, StoreError

LOCK_FILENAME = "lock"
LEGACY_PID_FILENAME = "pid"   # written by learnsys before the lock; a run that has one was killed
_SETLK = getattr(fcntl, "F_OFD_SETLK", fcntl.F_SETLK)
_GETLK = getattr(fcntl, "F_OFD_GETLK", fcntl.F_GETLK)
_FLOCK = "hhqqi4x"            # struct flock on Linux: type, whence, start, len, pid (+ padding)
_held: dict[int, "RunLock"] = {}


def _flock(kind: int) -> bytes:
    return struct.pack(_FLOCK, kind, os.SEEK_SET, 0, 0, 0)


@dataclass(frozen=True)
class LockHolder:
    pid: int | None          # None: the holder has not written its pid yet (or could not: a full disk)
    host: str | None
    started: float | None


def in_use_message(run_id: str, holder: LockHolder | None) -> str:
    pid = holder.pid if holder is not None else None
    who = f"process {pid}" + (f" on {holder.host}" if holder.host and holder.host != socket.gethostname() else "") \
        if pid is not None else "another process"
    stop = f"Ctrl-C there, or `kill {pid}`" if pid is not None else "Ctrl-C there"
    return f"Run {run_id} is still being trained by {who}; stop it first ({stop}), then try again. Nothing was changed."


class RunLock:
    """The exclusive lock of one run folder, held from `acquire()` to `release()` (or the `with` block)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        path = self.folder / LOCK_FILENAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StoreError(f"Cannot lock run {self.folder.name}: {path} cannot be opened for writing "
                             f"({e.strerror}). Training writes to the run folder: make it writable.") from None
        try:
            fcntl.fcntl(fd, _SETLK, _flock(fcntl.F_WRLCK))
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EACCES, errno.EAGAIN):
                raise RunInUseError(in_use_message(self.folder.name, lock_holder(self.folder))) from None
            raise StoreError(f"Cannot lock run {self.folder.name} ({path}: {e.strerror}); its file system may "
                             "not support locks.") from None
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info, 0)
        except OSError:
            pass  # the lock is what counts; readers then say "another process"
        self._fd = fd
        _held[fd] = self
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            _held.pop(fd, None)
            try:
                os.ftruncate(fd, 0)  # still locked: no reader takes this pid for a later holder's
            except OSError:
                pass
            os.close(fd)  # the last descriptor of the open file: the kernel drops the lock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _close_in_child() -> None:
    for fd, lock in list(_held.items()):
        lock._fd = None
        try:
            os.close(fd)  # the parent's descriptor still holds the lock
        except OSError:
            pass
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


def _read_holder(fd: int) -> LockHolder | None:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"null")
        return LockHolder(int(info["pid"]), str(info.get("host")), float(info.get("started", 0)))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def lock_holder(folder: str | Path) -> LockHolder | None:
    """Who holds the run folder's lock (None: nobody). Never takes the lock."""
    path = Path(folder) / LOCK_FILENAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            answer = fcntl.fcntl(fd, _GETLK, _flock(fcntl.F_WRLCK))
        except OSError:
            return None  # a file system without locks: nobody can hold one
        kind, _, _, _, pid = struct.unpack(_FLOCK, answer)
        if kind == fcntl.F_UNLCK:
            return None
        for _ in range(20):  # the holder writes its pid just after it takes the lock
            holder = _read_holder(fd)
            if holder is not None:
                return holder
            time.sleep(0.005)
        return LockHolder(pid if pid > 0 else None, None, None)
    finally:
        os.close(fd)


def training_pid(folder: str | Path | None) -> int | None:
    """The pid of the process that trains the run in `folder` (None: none does, or unknown)."""
    holder = lock_holder(folder) if folder else None
    return holder.pid if holder is not None else None


def live_status(status: str, folder: str | Path | None) -> str:
    """A stored status corrected for a killed process: 'running' while nobody holds the run's
    lock is 'interrupted' (`learnsys resume` continues it). A run without a lock file (written
    by something other than `learnsys train`) keeps its stored status."""
    if status != "running" or not folder:
        return status
    folder = Path(folder)
    if lock_holder(folder) is not None:
        return "running"
    if (folder / LOCK_FILENAME).exists() or (folder / LEGACY_PID_FILENAME).exists():
        return "interrupted"
    return status
