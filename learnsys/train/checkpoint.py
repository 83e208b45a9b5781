"""Checkpoints of a run: keep the last k and one best, write in the background, find the
newest good one, pick one by name (`best`, `last`, a step).

    ckpt = Checkpointer(run_folder / "checkpoints", keep=3)
    ckpt.save(step, state)                       # -> Path; durable when it returns
    ckpt.save_async(step, state)                 # -> Path (written in the background); ckpt.wait() joins it
    ckpt.save_best(step, state, "dev/loss", 0.12)  # best-<step>.pt, kept beside the last k
    found, warnings = ckpt.latest()              # -> (LoadedCheckpoint | None, [one-line warnings])
    found, warnings = ckpt.select("best")        # "best", "last" or a step; one error line if absent

One file is `checkpoint_file.py`'s business (plain torch.save bytes + a checksummed sidecar,
atomic); this module owns the folder: which files are kept, `manifest.json` (an index of the
sidecars for people and tools, rewritten after every write, never needed: every file carries
its own sidecar, so a lost or stale manifest loses nothing) and the background writer.
`latest()` verifies every candidate, newest first, reports each unusable one in one line and
returns the newest good one. Loading uses `torch.load(weights_only=True)`: no pickled code runs.

`save_async` copies the state to host memory on the caller's thread and writes on a
background thread, one write at a time. A disk error (full, read-only, gone) becomes one
CheckpointError line; the previous checkpoint is intact and no temp file is left.

Test hooks (class attributes, so a driver can set them for every Checkpointer a run makes;
tests/checkpoint_pause.py): `before_rename(tmp)` (temp files complete), `between_renames(path)`
(sidecar in place, `.pt` not yet), `before_manifest(path)` (both in place, manifest not yet).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import CheckpointError, LearnsysError
from . import checkpoint_file as cf
from .checkpoint_file import CheckpointUnusable, read_sidecar, read_verified, sidecar_path

MANIFEST = "manifest.json"
FILE_PATTERN = re.compile(r"^(step|best)-(\d+)\.pt$")
SIDECAR_PATTERN = re.compile(r"^(step|best)-(\d+)\.pt\.json$")
TMP_PATTERN = re.compile(r"^\.((step|best)-\d+\.pt(\.json)?|manifest\.json)\.tmp$")

@dataclass
class LoadedCheckpoint:
    state: dict
    step: int
    path: Path


def parse_selector(text: str | int) -> str | int:
    """`best`, `last` or a step number (the `--checkpoint` value); LearnsysError otherwise."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    value = str(text).strip().lower()
    if value in ("best", "last"):
        return value
    if value.isdigit() and len(value) <= 12:
        return int(value)
    raise LearnsysError(f"--checkpoint {text!r} is not best, last or a step number (e.g. 1000). Pass one of those.")


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


class Checkpointer:
    # test hooks (see the module docstring); None in production
    before_rename: Callable[[Path], None] | None = None
    between_renames: Callable[[Path], None] | None = None
    before_manifest: Callable[[Path], None] | None = None
    # how a file is written (benchmarks/bench_checkpoint.py compares the choices)
    checksum: str = cf.DEFAULT_CHECKSUM
    parallel_hash: bool = (os.cpu_count() or 1) > 1
    writeback: bool = True

    def __init__(self, folder: str | Path, keep: int = 3):
        self.folder = Path(folder)
        self.keep = keep
        self._pending: threading.Thread | None = None
        self._pruning: threading.Thread | None = None  # deletes superseded files off the loop's path
        self._error: BaseException | None = None
        self._host: dict | None = None  # the last async host copy, reused by the next one
        self._written: Path | None = None  # the last regular file written in full (save_best links to it)
        self._started: Path | None = None  # the last regular file whose write has begun

    def path_for(self, step: int, kind: str = "step") -> Path:
        return self.folder / f"{kind}-{step:08d}.pt"

    # -- writing --------------------------------------------------------------------------

    def save(self, step: int, state: dict) -> Path:
        """Write the checkpoint for `step` now; when this returns it is durable."""
        self.wait()
        self._started = self.path_for(step)
        return self._write(step, state, None)

    def save_best(self, step: int, state: dict, metric: str, value: float, background: bool = False) -> Path:
        """Make the state at `step` the run's best checkpoint (`best-<step>.pt`, beside the last k
        and never pruned by them); the previous best goes. If `step` is the checkpoint just
        written (or being written in the background), the file is linked, not written again.
        `background` writes it as `save_async` does."""
        best = {"best": {"metric": metric, "value": float(value)}}
        if not background:
            self.wait()
            return self._write(step, state, best)
        if self._started == self.path_for(step) and self._pending is not None:
            # that step's write is in flight: link once it is done, without making the caller wait
            previous, host_state = self._pending, self._host

            def after_it() -> None:
                previous.join()
                if self._error is None:
                    self._write(step, host_state, best)

            return self._start(after_it, self.path_for(step, "best"))
        return self._in_background(step, state, best)

    def save_async(self, step: int, state: dict) -> Path:
        """Copy `state` to host memory now, write it on a background thread; returns the path it
        will have. Waits for the previous write first (never two at once); a write error is
        raised by the next `save`/`save_async`/`wait`."""
        return self._in_background(step, state, None)

    def _in_background(self, step: int, state: dict, best: dict | None) -> Path:
        self.wait()
        host_state = self._host = to_host(state, self._host)  # all the caller waits for (and a previous write)
        if best is None:
            self._started = self.path_for(step)
        return self._start(lambda: self._write(step, host_state, best), self.path_for(step, "best" if best else "step"))

    def _start(self, write: Callable[[], object], path: Path) -> Path:
        def work() -> None:
            try:
                write()
            except BaseException as e:  # kept and raised on the caller's thread
                self._error = e

        self._pending = threading.Thread(target=work, name="learnsys-checkpoint", daemon=True)
        self._pending.start()
        return path

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

    def _write(self, step: int, state: dict, best: dict | None) -> Path:
        path = self.path_for(step, "best" if best else "step")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            linked = best is not None and self._written == self.path_for(step) and self._link(step, path, best)
            if not linked:
                cf.write_checkpoint(path, state, best, step=step, checksum=self.checksum,
                                    parallel_hash=self.parallel_hash, writeback=self.writeback,
                                    before_rename=self.before_rename, between_renames=self.between_renames)
            if best is None:
                self._written = path
            self._after_write(step, path, best is not None)
        except OSError as e:
            raise CheckpointError(f"Cannot write checkpoint {path}: {e.strerror or e}. Free space or fix the folder "
                                  f"{self.folder}; {self._previous_note(path)}`learnsys resume` continues from "
                                  "the last good checkpoint.") from e
        return path

    def _link(self, step: int, path: Path, best: dict) -> bool:
        try:
            cf.link_checkpoint(self.path_for(step), path, best)
        except (OSError, CheckpointUnusable):  # no hard links on this file system: write it in full
            return False
        return True

    def _previous_note(self, path: Path) -> str:
        older = [(s, p) for s, p in self._files("step") if p != path]
        return f"the checkpoint at step {older[0][0]} is intact; " if older else ""

    def _after_write(self, step: int, path: Path, is_best: bool) -> None:
        """Prune and index. After a regular write the file just written is the newest: regular
        and best files of later steps are stale (a resume from an older checkpoint passed over
        them) and go, as do all but the `keep` newest regular ones. After a best write, every
        other best goes. Sidecars without their file and temp files of killed writes go too."""
        if self.before_manifest is not None:
            self.before_manifest(path)
        if self._pruning is not None and self._pruning is not threading.current_thread():
            self._pruning.join()  # the previous write's deletions (a chained best write comes right after one)
        own_temps = {cf.temp_path(path).name, cf.temp_path(sidecar_path(path)).name}
        obsolete = []
        for p in self.folder.iterdir():
            m = SIDECAR_PATTERN.match(p.name)
            if (m and not p.with_name(p.name[:-len(cf.SIDECAR_SUFFIX)]).exists()) or \
                    (TMP_PATTERN.match(p.name) and p.name not in own_temps):
                obsolete.append(p)
        regular, bests = self._files("step"), self._files("best")
        if is_best:
            kept, kept_best = regular, [(step, path)]
        else:
            kept = [(s, p) for s, p in regular if s <= step][:self.keep]
            kept_best = [(s, p) for s, p in bests if s <= step][:1]
        for s, p in regular + bests:
            if (s, p) not in kept and (s, p) not in kept_best:
                obsolete += [p, sidecar_path(p)]
        self._write_manifest(kept, kept_best)
        if obsolete:  # deleting a large file takes tens of ms; nothing waits for it but the next write
            self._pruning = threading.Thread(target=lambda: [p.unlink(missing_ok=True) for p in obsolete],
                                             name="learnsys-checkpoint-prune", daemon=True)
            self._pruning.start()

    def _write_manifest(self, kept: list[tuple[int, Path]], kept_best: list[tuple[int, Path]]) -> None:
        """Best effort and not fsynced: an index that every reader can do without. A failure
        (a full disk) leaves the old one; the next write replaces it."""
        entries = [read_sidecar(p) or {"file": p.name, "step": s} for s, p in reversed(kept)]
        best = read_sidecar(kept_best[0][1]) if kept_best else None
        target = self.folder / MANIFEST
        try:
            cf.write_small(cf.temp_path(target), json.dumps({"format": cf.FORMAT, "checkpoints": entries,
                                                             "best": best}, indent=1).encode(), durable=False)
            os.replace(cf.temp_path(target), target)
        except OSError:
            cf.temp_path(target).unlink(missing_ok=True)

    # -- reading --------------------------------------------------------------------------

    def _files(self, kind: str) -> list[tuple[int, Path]]:
        """(step, path) of every `kind` file ("step" or "best") in the folder, newest first."""
        found = []
        if self.folder.is_dir():
            for p in self.folder.iterdir():
                m = FILE_PATTERN.match(p.name)
                if m and m.group(1) == kind:
                    found.append((int(m.group(2)), p))
        return sorted(found, reverse=True)

    def _manifest_readable(self) -> bool:
        try:
            return isinstance(json.loads((self.folder / MANIFEST).read_text())["checkpoints"], list)
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def candidates(self) -> tuple[list[tuple[int, Path]], list[str]]:
        """Every regular checkpoint file on disk, newest first, and warnings about the manifest."""
        found = self._files("step")
        warnings = []
        if found and not (self.folder / MANIFEST).exists():
            warnings.append(f"Checkpoint manifest {self.folder / MANIFEST} is missing; using the checkpoint files "
                            "found in the folder, each verified by its own checksum.")
        elif found and not self._manifest_readable():
            warnings.append(f"Checkpoint manifest {self.folder / MANIFEST} is unreadable; using the checkpoint "
                            "files found in the folder, each verified by its own checksum.")
        return found, warnings

    def latest(self) -> tuple[LoadedCheckpoint | None, list[str]]:
        """The newest regular checkpoint that verifies (or None), and one line per unusable newer one."""
        found, warnings = self.candidates()
        for step, path in found:
            try:
                state = read_verified(path)
            except CheckpointUnusable as e:
                warnings.append(f"Checkpoint {path} {e}; trying the previous one.")
                continue
            return LoadedCheckpoint(state, step, path), warnings
        return None, warnings

    def select(self, which: str | int) -> tuple[LoadedCheckpoint, list[str]]:
        """The checkpoint `which` names: "last" (the newest good one), "best", or a step number.
        Raises LearnsysError, in one line, when it does not exist (CheckpointError when it is
        there but unusable)."""
        which = parse_selector(which)
        if which == "last":
            found, warnings = self.latest()
            if found is None:
                raise LearnsysError(f"No usable checkpoint in {self.folder}{self._why(warnings)}. Train the run "
                                    "(or resume it) first.")
            return found, warnings
        if which == "best":
            bests = self._files("best")
            if not bests:
                raise LearnsysError(f"No best checkpoint in {self.folder}: the run was not trained with "
                                    f"--keep-best METRIC. {self._available()}")
            step, path = bests[0]
        else:
            step = which
            path = next((p for s, p in self._files("step") + self._files("best") if s == step), None)
            if path is None:
                raise LearnsysError(f"No checkpoint at step {step} in {self.folder}. {self._available()}")
        try:
            return LoadedCheckpoint(read_verified(path), step, path), []
        except CheckpointUnusable as e:
            raise CheckpointError(f"Checkpoint {path} {e}. {self._available(exclude=path)}") from None

    def _why(self, warnings: list[str]) -> str:
        return f" ({warnings[-1]})" if warnings else ""

    def _available(self, exclude: Path | None = None) -> str:
        steps = [str(s) for s, p in self._files("step") if p != exclude]
        best = [f"best (step {s})" for s, p in self._files("best")[:1] if p != exclude]
        if not steps and not best:
            return "The run has no other checkpoint."
        return f"Pass --checkpoint with one of: {', '.join(['last'] * bool(steps) + best + steps)}."
