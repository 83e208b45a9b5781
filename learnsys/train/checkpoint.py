"""Checkpoints: atomic, checksummed writes; verified reads; keep the last k; optional async.

A checkpoint file `step-00000100.pt` is a header line `LEARNSYS-CKPT 1 <sha256 hex>\\n`
followed by the bytes of `torch.save(state)`. It is written to a temp file in the same
folder, fsynced, renamed into place, and the folder is fsynced; then `manifest.json`
(the index: file, step, sha256, size) is replaced by a rename. Each file carries its
own checksum, so a missing or stale manifest loses nothing: `latest()` verifies every
candidate, newest first, reports each damaged one in one line and returns the newest
good one. Loading uses `torch.load(weights_only=True)`: no pickled code ever runs.

The write streams `torch.save` straight into the temp file (no in-memory copy, no zip
CRC32s: the sha256 covers every byte) and hashes each big chunk on a helper thread while
it is written (sha256 and file writes both release the GIL); the header's checksum is
filled in last, before the fsync. `save_async` copies the state to host memory on the
caller's thread and writes on a background thread, one write at a time.

    ckpt = Checkpointer(run_folder / "checkpoints", keep=3)
    ckpt.save(step, state)          # -> Path
    ckpt.save_async(step, state)    # -> Path (written in the background); ckpt.wait() joins it
    found, warnings = ckpt.latest() # -> (LoadedCheckpoint(state, step, path) | None, [one-line warnings])
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import CheckpointError

MAGIC = b"LEARNSYS-CKPT 1 "
HEADER_LEN = len(MAGIC) + 64 + 1
MANIFEST = "manifest.json"
FILE_PATTERN = re.compile(r"^step-(\d+)\.pt$")
TMP_PATTERN = re.compile(r"^\.(step-\d+\.pt|manifest\.json)\.tmp$")
# Chunks at least this big are hashed on a helper thread while they are written. With two
# CPUs or fewer the helper competes with the writer and with training (measured slower than
# hashing in line on a busy 2-core machine), so there every chunk is hashed in line.
_PARALLEL_HASH_BYTES = 1 << 20 if (os.cpu_count() or 1) > 2 else 1 << 62
_WRITEBACK_BYTES = 8 << 20       # start writeback of the pages written so far every this many bytes
_ADVISE = hasattr(os, "posix_fadvise")

# Test-only hook (the kill harness, tests/test_resume_kill.py): "<phase>:<seconds>" makes every
# checkpoint write sleep at that phase, so a SIGKILL can land inside it. Phases: before-rename
# (temp file complete, not yet renamed) and before-manifest (renamed, manifest not yet updated).
TEST_PAUSE_ENV = "LEARNSYS_TEST_CHECKPOINT_PAUSE"


@dataclass
class LoadedCheckpoint:
    state: dict
    step: int
    path: Path


class CheckpointDamaged(Exception):
    pass


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by its path (a folder's fsync makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, chunks: list[bytes | memoryview], before_rename=None, durable: bool = True) -> None:
    """Write chunks to `path` so that it is either the old file or the complete new one.

    `durable=False` skips the fsyncs: after a power cut the file may be the old one (fine for
    the manifest, an index that every checkpoint file can do without)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        if durable:
            os.fsync(f.fileno())
    if before_rename is not None:
        before_rename(tmp)
    os.replace(tmp, path)
    if durable:
        fsync_path(path.parent)


class _HashingWriter:
    """The file-like object torch.save writes to: each chunk goes to the file and into sha256.

    Big chunks are hashed on a helper thread while this thread writes them (on machines
    with more than two CPUs); `write` returns only when both are done, so torch may reuse
    its buffer right after. Every few MB it asks
    the kernel to start writing the pages out (posix_fadvise DONTNEED starts writeback without
    waiting), so on a real disk the device works while the rest is serialised and hashed,
    and the final fsync has little left to wait for."""

    def __init__(self, fd: int, pool: ThreadPoolExecutor, offset: int):
        self.fd, self.pool = fd, pool
        self.sha = hashlib.sha256()
        self.size = 0
        self.offset = self.flushed = offset

    def _write_all(self, view: memoryview) -> None:
        done = 0
        while done < view.nbytes:
            done += os.write(self.fd, view[done:])

    def write(self, chunk) -> int:
        view = memoryview(chunk).cast("B")
        n = view.nbytes
        if n >= _PARALLEL_HASH_BYTES:
            hashing = self.pool.submit(self.sha.update, view)
            self._write_all(view)
            hashing.result()
        else:
            self.sha.update(view)
            self._write_all(view)
        self.size += n
        end = self.offset + self.size
        if _ADVISE and end - self.flushed >= _WRITEBACK_BYTES:
            os.posix_fadvise(self.fd, self.flushed, end - self.flushed, os.POSIX_FADV_DONTNEED)
            self.flushed = end
        return n

    def flush(self) -> None:
        pass


_CRC_LOCK = threading.Lock()


@contextmanager
def _no_zip_crc32():
    """torch.save computes a CRC32 of every record of its zip (about as costly as the write
    itself); the sha256 over the whole payload makes it redundant, and torch.load does not
    need it. The switch is process-wide, so it is turned off only around our own save."""
    if not hasattr(torch.serialization, "set_crc32_options"):  # torch < 2.5
        yield
        return
    with _CRC_LOCK:
        before = torch.serialization.get_crc32_options()
        torch.serialization.set_crc32_options(False)
        try:
            yield
        finally:
            torch.serialization.set_crc32_options(before)


def write_state(path: Path, state: dict, before_rename=None) -> tuple[str, int]:
    """Stream `torch.save(state)` into a checksummed checkpoint at `path`, atomically.

    Returns (sha256 hex of the payload, file size in bytes)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="learnsys-hash") as pool:
            placeholder = MAGIC + b"0" * 64 + b"\n"  # the real checksum is known at the end
            os.write(fd, placeholder)
            writer = _HashingWriter(fd, pool, len(placeholder))
            with _no_zip_crc32():
                torch.save(state, writer)
        digest = writer.sha.hexdigest()
        os.pwrite(fd, MAGIC + digest.encode() + b"\n", 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    if before_rename is not None:
        before_rename(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)
    return digest, HEADER_LEN + writer.size


def to_host(obj: Any, into: Any = None) -> Any:
    """A copy of a state dict whose tensors are CPU tensors shared with nothing in training.

    `into`, a previous copy of the same structure, is reused where shapes and dtypes match:
    copying into memory that is already mapped is several times faster than fresh tensors."""
    if isinstance(obj, torch.Tensor):
        if (isinstance(into, torch.Tensor) and into.shape == obj.shape and into.dtype == obj.dtype
                and into.device.type == "cpu" and obj.layout == torch.strided and into.is_contiguous()):
            return into.copy_(obj.detach())
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        into = into if isinstance(into, dict) else {}
        out = type(obj)((k, to_host(v, into.get(k))) for k, v in obj.items())  # OrderedDict stays one
        if hasattr(obj, "_metadata"):  # module state dicts carry per-module versions
            out._metadata = obj._metadata
        return out
    if isinstance(obj, (list, tuple)):
        into = into if isinstance(into, (list, tuple)) and len(into) == len(obj) else [None] * len(obj)
        return type(obj)(to_host(v, w) for v, w in zip(obj, into))
    return obj


def read_verified(path: Path) -> dict:
    """Load one checkpoint file, raising CheckpointDamaged if it is truncated or altered."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointDamaged(f"cannot be read ({e.strerror})") from None
    if len(data) < HEADER_LEN or not data.startswith(MAGIC) or data[HEADER_LEN - 1:HEADER_LEN] != b"\n":
        raise CheckpointDamaged("has no valid header (truncated or not a learnsys checkpoint)")
    expected = data[len(MAGIC):HEADER_LEN - 1].decode("ascii", "replace")
    payload = memoryview(data)[HEADER_LEN:]
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise CheckpointDamaged(f"fails its checksum (sha256 {actual[:12]}… != {expected[:12]}…; truncated or corrupted)")
    try:
        return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as e:  # a checksum match with an unreadable payload: written by something else
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise CheckpointDamaged(f"cannot be loaded ({type(e).__name__}: {first})") from None


def _read_header_digest(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_LEN)
    except OSError:
        return None
    return head[len(MAGIC):-1].decode("ascii", "replace") if head.startswith(MAGIC) else None


class Checkpointer:
    def __init__(self, folder: str | Path, keep: int = 3):
        self.folder = Path(folder)
        self.keep = keep
        self.before_rename: Callable[[Path], None] | None = None    # test hook: temp file complete, not renamed
        self.before_manifest: Callable[[Path], None] | None = None  # test hook: file renamed, manifest not written
        self._pending: threading.Thread | None = None
        self._pruning: threading.Thread | None = None  # deletes superseded files off the loop's path
        self._error: BaseException | None = None
        self._host: dict | None = None  # the last async host copy, reused by the next one

    @classmethod
    def with_test_pause(cls, folder: str | Path, keep: int, pause: str | None) -> "Checkpointer":
        """A Checkpointer that sleeps inside each write when `pause` ("<phase>:<seconds>",
        from TEST_PAUSE_ENV) says so. Test-only: lets the kill harness land a SIGKILL there."""
        ckpt = cls(folder, keep)
        if pause:
            phase, _, seconds = pause.partition(":")
            hook = lambda _path: time.sleep(float(seconds))  # noqa: E731
            if phase not in ("before-rename", "before-manifest"):
                raise ValueError(f"{TEST_PAUSE_ENV}={pause!r}: phase must be before-rename or before-manifest")
            setattr(ckpt, phase.replace("-", "_"), hook)
        return ckpt

    def path_for(self, step: int) -> Path:
        return self.folder / f"step-{step:08d}.pt"

    # -- writing --------------------------------------------------------------------------

    def save(self, step: int, state: dict) -> Path:
        """Write the checkpoint for `step` now; when this returns it is durable. A disk error
        (full, read-only, gone) becomes one CheckpointError line; the previous checkpoint stays."""
        self.wait()
        path = self.path_for(step)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            digest, size = write_state(path, state, self.before_rename)
            self._after_write(step, path, digest, size)
        except OSError as e:
            raise CheckpointError(f"Cannot write checkpoint {path}: {e.strerror or e}. Free space or fix the folder; "
                                  "`learnsys resume` continues from the last checkpoint.") from e
        return path

    def save_async(self, step: int, state: dict) -> Path:
        """Copy `state` to host memory now, write it on a background thread; returns the path it
        will have. Waits for the previous write first (never two at once); a write error is
        raised by the next `save`/`save_async`/`wait`."""
        self.wait()
        host_state = self._host = to_host(state, self._host)  # all the caller waits for (and a previous write)

        def work() -> None:
            try:
                self.save(step, host_state)
            except BaseException as e:  # kept and raised on the caller's thread
                self._error = e

        self._pending = threading.Thread(target=work, name="learnsys-checkpoint", daemon=True)
        self._pending.start()
        return self.path_for(step)

    def wait(self) -> None:
        """Block until a background write has finished; raise its error, if any."""
        if self._pending is not None and self._pending is not threading.current_thread():
            self._pending.join()
            self._pending = None
        if self._pruning is not None:
            self._pruning.join()
            self._pruning = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def write(self, step: int, header: bytes, payload: memoryview | bytes) -> Path:
        """Write an already serialised checkpoint (see `serialize`)."""
        self.wait()
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(step)
        write_atomic(path, [header, payload], self.before_rename)
        self._after_write(step, path, header[len(MAGIC):-1].decode(), len(header) + len(payload))
        return path

    def _after_write(self, step: int, path: Path, digest: str, size: int) -> None:
        """Prune and index: the file just written is the newest; files of later steps are
        stale (a resume from an older checkpoint passed over them as damaged) and go, as do
        all but the `keep` newest and any temp file left by a killed write."""
        if self.before_manifest is not None:
            self.before_manifest(path)
        known = {e["file"]: e for e in self._manifest_entries()}
        on_disk = []
        for p in self.folder.iterdir():
            m = FILE_PATTERN.match(p.name)
            if m:
                on_disk.append((int(m.group(1)), p))
            elif TMP_PATTERN.match(p.name) and p != path.with_name(f".{path.name}.tmp"):
                p.unlink(missing_ok=True)
        on_disk.sort()
        kept = [(s, p) for s, p in on_disk if s <= step][-self.keep:]
        obsolete = [p for s, p in on_disk if (s, p) not in kept]
        entries = []
        for s, p in kept:
            if p == path:
                entries.append({"file": p.name, "step": s, "sha256": digest, "bytes": size, "time": time.time()})
            elif p.name in known:
                entries.append(known[p.name])
            else:  # renamed into place by a process killed before it wrote the manifest
                entries.append({"file": p.name, "step": s, "sha256": _read_header_digest(p),
                                "bytes": p.stat().st_size, "time": p.stat().st_mtime})
        write_atomic(self.folder / MANIFEST, [json.dumps({"format": 1, "checkpoints": entries}, indent=1).encode()],
                     durable=False)
        if obsolete:  # deleting a large file takes tens of ms; nothing waits for it but the next write
            self._pruning = threading.Thread(target=lambda: [p.unlink(missing_ok=True) for p in obsolete],
                                             name="learnsys-checkpoint-prune", daemon=True)
            self._pruning.start()

    # -- reading --------------------------------------------------------------------------

    def _manifest_entries(self) -> list[dict]:
        try:
            return json.loads((self.folder / MANIFEST).read_text())["checkpoints"]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def candidates(self) -> tuple[list[tuple[int, Path]], list[str]]:
        """Every checkpoint file on disk, newest first, and warnings about the manifest."""
        warnings = []
        found = []
        if self.folder.is_dir():
            for p in self.folder.iterdir():
                m = FILE_PATTERN.match(p.name)
                if m:
                    found.append((int(m.group(1)), p))
        if found and not (self.folder / MANIFEST).exists():
            warnings.append(f"Checkpoint manifest {self.folder / MANIFEST} is missing; using the checkpoint files "
                            "found in the folder, each verified by its own checksum.")
        elif found and not self._manifest_entries():
            warnings.append(f"Checkpoint manifest {self.folder / MANIFEST} is unreadable; using the checkpoint "
                            "files found in the folder, each verified by its own checksum.")
        return sorted(found, reverse=True), warnings

    def latest(self) -> tuple[LoadedCheckpoint | None, list[str]]:
        """The newest checkpoint that verifies (or None), and one line per damaged newer one."""
        found, warnings = self.candidates()
        for step, path in found:
            try:
                state = read_verified(path)
            except CheckpointDamaged as e:
                warnings.append(f"Checkpoint {path} {e}; trying the previous one.")
                continue
            return LoadedCheckpoint(state, step, path), warnings
        return None, warnings
