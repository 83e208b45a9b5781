"""Checkpoints: atomic, checksummed writes; verified reads; keep the last k.

A checkpoint file `step-00000100.pt` is a header line `LEARNSYS-CKPT 1 <sha256 hex>\\n`
followed by the bytes of `torch.save(state)`. It is written to a temp file in the same
folder, fsynced, renamed into place, and the folder is fsynced; then `manifest.json`
(the index: file, step, sha256, size) is replaced the same way. Each file carries its
own checksum, so a missing or stale manifest loses nothing: `latest()` verifies every
candidate, newest first, reports each damaged one in one line and returns the newest
good one. Loading uses `torch.load(weights_only=True)`: no pickled code ever runs.

    ckpt = Checkpointer(run_folder / "checkpoints", keep=3)
    ckpt.save(step, state)          # -> Path
    found, warnings = ckpt.latest() # -> (LoadedCheckpoint(state, step, path) | None, [one-line warnings])
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

MAGIC = b"LEARNSYS-CKPT 1 "
HEADER_LEN = len(MAGIC) + 64 + 1
MANIFEST = "manifest.json"
FILE_PATTERN = re.compile(r"^step-(\d+)\.pt$")


@dataclass
class LoadedCheckpoint:
    state: dict
    step: int
    path: Path


class CheckpointDamaged(Exception):
    pass


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, chunks: list[bytes | memoryview], before_rename=None) -> None:
    """Write chunks to `path` so that it is either the old file or the complete new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    if before_rename is not None:
        before_rename(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def serialize(state: dict) -> tuple[bytes, memoryview]:
    """(header, payload) for a state dict: the header holds the payload's sha256."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getbuffer()
    digest = hashlib.sha256(payload).hexdigest().encode()
    return MAGIC + digest + b"\n", payload


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
        raise CheckpointDamaged(f"cannot be loaded ({type(e).__name__}: {e})") from None


class Checkpointer:
    def __init__(self, folder: str | Path, keep: int = 3):
        self.folder = Path(folder)
        self.keep = keep
        self.before_rename = None  # test hook: called between the temp write and the rename

    def path_for(self, step: int) -> Path:
        return self.folder / f"step-{step:08d}.pt"

    def save(self, step: int, state: dict) -> Path:
        return self.write(step, *serialize(state))

    def write(self, step: int, header: bytes, payload: memoryview | bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(step)
        write_atomic(path, [header, payload], self.before_rename)
        entries = [e for e in self._manifest_entries() if e["step"] != step]
        entries.append({"file": path.name, "step": step, "sha256": header[len(MAGIC):-1].decode(),
                        "bytes": len(header) + len(payload), "time": time.time()})
        entries.sort(key=lambda e: e["step"])
        for old in entries[:-self.keep]:
            (self.folder / old["file"]).unlink(missing_ok=True)
        entries = entries[-self.keep:]
        write_atomic(self.folder / MANIFEST, [json.dumps({"format": 1, "checkpoints": entries}, indent=1).encode()])
        return path

    def _manifest_entries(self) -> list[dict]:
        try:
            return json.loads((self.folder / MANIFEST).read_text())["checkpoints"]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def candidates(self) -> tuple[list[tuple[int, Path]], list[str]]:
        """Every checkpoint file on disk, newest first, and warnings about the manifest."""
        warnings = []
        if self.folder.is_dir() and not (self.folder / MANIFEST).exists():
            warnings.append(f"Checkpoint manifest {self.folder / MANIFEST} is missing; using the checkpoint files "
                            "found in the folder, each verified by its own checksum.")
        elif self.folder.is_dir() and not self._manifest_entries():
            warnings.append(f"Checkpoint manifest {self.folder / MANIFEST} is unreadable; using the checkpoint "
                            "files found in the folder, each verified by its own checksum.")
        found = []
        if self.folder.is_dir():
            for p in self.folder.iterdir():
                m = FILE_PATTERN.match(p.name)
                if m:
                    found.append((int(m.group(1)), p))
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
