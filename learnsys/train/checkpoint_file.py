"""One checkpoint on disk: `step-00000100.pt` (plain `torch.save` bytes) and its sidecar
`step-00000100.pt.json` (format, step, size, checksum). The atomic write and the verified read.

    entry = write_checkpoint(folder / "step-00000100.pt", state)   # -> the sidecar's dict
    state = read_verified(folder / "step-00000100.pt")             # raises CheckpointUnusable

The `.pt` holds nothing but `torch.save(state)`, so `torch.load(path, weights_only=True)` opens
it anywhere, without learnsys. What makes it trustworthy lives beside it:

    {"format": 2, "file": "step-00000100.pt", "step": 100, "bytes": 120141619,
     "checksum": "xxh3-128:9c1f...", "time": 1764000000.0}

Write order (each step survives a kill at any point; docs/resume.md, "Damaged checkpoints"):
1. stream `torch.save` into `.step-00000100.pt.tmp` (hashing each chunk as it goes), fsync;
2. write `.step-00000100.pt.json.tmp`, fsync;
3. rename the sidecar into place, then the `.pt`, then fsync the folder.
So a `.pt` under its final name always has its sidecar beside it. A kill between the two
renames leaves a sidecar without its `.pt`: ignored, and removed by the next write. A `.pt`
without a sidecar (copied alone, or a power cut that kept one rename and lost the other) is
never trusted: it cannot be verified.

Old checkpoints (format 1: a header line `LEARNSYS-CKPT 1 <sha256>` before the torch.save
bytes, no sidecar) are converted on read: the header's sha256 is verified and stripped.

The checksum is xxh3-128 (the `xxhash` package, 8-11 GB/s) when it is installed, else sha256
(hashlib, 1-3 GB/s); the sidecar names which, so either reads anywhere. Both are for accidental
damage, which is what a checkpoint meets; the file size in the sidecar catches any truncation
exactly. Nothing here defends against tampering: loading never runs pickled code instead.

Every byte (payload, sidecar, manifest) goes through `write_fd`, the one place a test injects
a full disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch

try:  # optional: a checksum 5-10x faster than sha256 (learnsys[fast]); sha256 otherwise
    import xxhash
except ImportError:  # pragma: no cover - depends on the install
    xxhash = None

FORMAT = 2
LEGACY_MAGIC = b"LEARNSYS-CKPT 1 "
LEGACY_HEADER_LEN = len(LEGACY_MAGIC) + 64 + 1
SIDECAR_SUFFIX = ".json"
CHECKSUMS: dict[str, Callable] = {"sha256": hashlib.sha256}
if xxhash is not None:
    CHECKSUMS["xxh3-128"] = xxhash.xxh3_128
DEFAULT_CHECKSUM = "xxh3-128" if xxhash is not None else "sha256"
# Chunks at least this big are hashed on a helper thread while they are written (the hashes and
# os.write release the GIL); smaller ones in line. benchmarks/bench_checkpoint.py measures both.
PARALLEL_HASH_BYTES = 1 << 20
WRITEBACK_BYTES = 8 << 20  # ask the kernel to start writing out every this many bytes
_ADVISE = hasattr(os, "posix_fadvise")


class CheckpointUnusable(Exception):
    """This file cannot be used (truncated, altered, no sidecar, unknown checksum); args[0] says why."""


def write_fd(fd: int, data: memoryview) -> None:
    """Write all of `data` to `fd`. Every checkpoint byte passes here (tests inject ENOSPC)."""
    done = 0
    while done < data.nbytes:
        done += os.write(fd, data[done:])


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by its path (a folder's fsync makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_small(path: Path, data: bytes, durable: bool = True) -> None:
    """Write a small file in full (fsynced unless `durable=False`); removes it if that fails."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_fd(fd, memoryview(data))
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


class _HashingWriter:
    """The file-like object torch.save writes to: each chunk goes to the file and into the hash.

    torch.save hands over memoryviews of the tensors' own memory (measured: no copy), so this is
    already one pass over the bytes. Big chunks are hashed on a helper thread while this thread
    writes them; `write` returns only when both are done, so torch may reuse its buffer. Every
    few MB it asks the kernel to start writeback (posix_fadvise DONTNEED starts it without
    waiting), so the device works while the rest is written and the final fsync has little
    left. A failed write is kept in `error`: torch.save replaces it by a RuntimeError that says
    nothing about the disk."""

    def __init__(self, fd: int, checksum: str, pool: ThreadPoolExecutor | None, writeback: bool):
        self.fd, self.pool, self.writeback = fd, pool, writeback and _ADVISE
        self.hash = CHECKSUMS[checksum]()
        self.size = self.flushed = 0
        self.error: OSError | None = None

    def write(self, chunk) -> int:
        view = memoryview(chunk).cast("B")
        n = view.nbytes
        try:
            if self.pool is not None and n >= PARALLEL_HASH_BYTES:
                hashing = self.pool.submit(self.hash.update, view)
                try:
                    write_fd(self.fd, view)
                finally:
                    hashing.result()
            else:
                self.hash.update(view)
                write_fd(self.fd, view)
        except OSError as e:
            self.error = e
            raise
        self.size += n
        if self.writeback and self.size - self.flushed >= WRITEBACK_BYTES:
            os.posix_fadvise(self.fd, self.flushed, self.size - self.flushed, os.POSIX_FADV_DONTNEED)
            self.flushed = self.size
        return n

    def flush(self) -> None:
        pass


_CRC_LOCK = threading.Lock()


@contextmanager
def _no_zip_crc32():
    """torch.save computes a CRC32 of every record of its zip (about as costly as the write
    itself); the checksum over the whole file makes it redundant, and torch.load does not need
    it. The switch is process-wide, so it is turned off only around our own save."""
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


def _save_payload(fd: int, state: dict, checksum: str, parallel_hash: bool, writeback: bool) -> tuple[str, int]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="learnsys-hash") if parallel_hash else None
    try:
        writer = _HashingWriter(fd, checksum, pool, writeback)
        try:
            with _no_zip_crc32():
                torch.save(state, writer)
        except RuntimeError:
            if writer.error is not None:  # the disk's error, not torch's "unexpected pos"
                raise writer.error from None
            raise
    finally:
        if pool is not None:
            pool.shutdown()
    return f"{checksum}:{writer.hash.hexdigest()}", writer.size


def write_checkpoint(path: Path, state: dict, extra: dict | None = None, *, step: int | None = None,
                     checksum: str = DEFAULT_CHECKSUM, parallel_hash: bool = True, writeback: bool = True,
                     before_rename: Callable[[Path], None] | None = None,
                     between_renames: Callable[[Path], None] | None = None) -> dict:
    """Write `state` to `path` and its sidecar, atomically (see the module docstring for the
    order). Returns the sidecar's dict. On an error nothing of this write is left behind: no temp
    file, and the old file at `path` (if any) is untouched. `before_rename` (both temp files
    complete) and `between_renames` (sidecar in place, `.pt` not yet) are the kill harness's hooks."""
    tmp, side = temp_path(path), sidecar_path(path)
    side_tmp = temp_path(side)
    renamed_side = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            digest, size = _save_payload(fd, state, checksum, parallel_hash, writeback)
            os.fsync(fd)
        finally:
            os.close(fd)
        entry = {"format": FORMAT, "file": path.name, "step": step, "bytes": size, "checksum": digest,
                 "time": round(os.stat(tmp).st_mtime, 6), **(extra or {})}
        write_small(side_tmp, json.dumps(entry).encode())
        if before_rename is not None:
            before_rename(tmp)
        os.replace(side_tmp, side)
        renamed_side = True
        if between_renames is not None:
            between_renames(path)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except Exception:  # a disk error, not a kill (a kill leaves the temps; the next write removes them)
        for p in (tmp, side_tmp):
            p.unlink(missing_ok=True)
        if renamed_side and not path.exists():
            side.unlink(missing_ok=True)
        raise
    return entry


def link_checkpoint(source: Path, path: Path, extra: dict) -> dict:
    """Make `path` the same checkpoint as `source` (a hard link: no bytes copied) with its own
    sidecar carrying `extra`. Raises OSError where hard links are not supported."""
    entry = read_sidecar(source)
    if entry is None:
        raise CheckpointUnusable(f"has no sidecar {sidecar_path(source).name}")
    entry = {**{k: v for k, v in entry.items() if k not in extra}, "file": path.name, **extra}
    tmp, side = temp_path(path), sidecar_path(path)
    try:
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
        write_small(temp_path(side), json.dumps(entry).encode())
        os.replace(temp_path(side), side)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except Exception:
        tmp.unlink(missing_ok=True)
        temp_path(side).unlink(missing_ok=True)
        raise
    return entry


# -- reading --------------------------------------------------------------------------------

def read_sidecar(path: Path) -> dict | None:
    """The sidecar of the checkpoint at `path`, or None if it is missing or unreadable."""
    try:
        entry = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def _load(payload) -> dict:
    try:
        return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as e:  # a checksum match with an unreadable payload: written by something else
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise CheckpointUnusable(f"cannot be loaded ({type(e).__name__}: {first})") from None


def _verify(data: bytes | memoryview, checksum: str) -> None:
    algo, _, expected = checksum.partition(":")
    if algo not in CHECKSUMS:
        hint = " (`pip install xxhash` to verify it)" if algo.startswith("xxh") else ""
        raise CheckpointUnusable(f"has a {algo!r} checksum that this install cannot compute{hint}")
    actual = CHECKSUMS[algo](data).hexdigest()
    if actual != expected:
        raise CheckpointUnusable(f"fails its checksum ({algo} {actual[:12]}… != {expected[:12]}…; "
                                 "truncated or corrupted)")


def read_verified(path: Path) -> dict:
    """Load one checkpoint file (format 2 with its sidecar, or format 1 with its header),
    raising CheckpointUnusable if it is truncated, altered or cannot be verified."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointUnusable(f"cannot be read ({e.strerror})") from None
    if data.startswith(LEGACY_MAGIC):
        return _load(_legacy_payload(data))
    entry = read_sidecar(path)
    if entry is None:
        why = "is missing" if not sidecar_path(path).exists() else "is unreadable"
        raise CheckpointUnusable(f"cannot be verified: its checksum file {sidecar_path(path).name} {why} (the "
                                 "write was interrupted, or the file was copied without it)")
    if entry.get("bytes") != len(data):
        raise CheckpointUnusable(f"is {len(data)} bytes, its checksum file says {entry.get('bytes')} "
                                 "(truncated or corrupted)")
    _verify(data, str(entry.get("checksum", "")))
    return _load(data)


def _legacy_payload(data: bytes) -> memoryview:
    """Format 1: `LEARNSYS-CKPT 1 <sha256 hex>\\n` + torch.save bytes. Verify, strip the header."""
    if len(data) < LEGACY_HEADER_LEN or data[LEGACY_HEADER_LEN - 1:LEGACY_HEADER_LEN] != b"\n":
        raise CheckpointUnusable("has no valid header (truncated or not a learnsys checkpoint)")
    expected = data[len(LEGACY_MAGIC):LEGACY_HEADER_LEN - 1].decode("ascii", "replace")
    payload = memoryview(data)[LEGACY_HEADER_LEN:]
    _verify(payload, f"sha256:{expected}")
    return payload
