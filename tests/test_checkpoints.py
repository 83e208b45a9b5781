"""Checkpoint files (issue 13, 12): plain torch.save bytes with a checksummed sidecar, that
`torch.load(weights_only=True)` opens without learnsys; old-format files still resume; a kill
between the two renames; a full disk anywhere in the write; the best checkpoint and the
`best`/`last`/STEP selector.

Resume end to end and damaged files during a resume: tests/test_resume.py; real kills:
tests/test_resume_kill.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from learnsys import api
from learnsys.errors import CheckpointError, LearnsysError
from learnsys.train import checkpoint_file
from learnsys.train.checkpoint import MANIFEST, Checkpointer, parse_selector, read_verified

from .resume_checks import assert_bitwise, assert_same_state
from .test_resume import StopAtStep, flip_bit, history, reference, resume_cli, train  # noqa: F401


def state_of(step: int, n: int = 3) -> dict:
    g = torch.Generator().manual_seed(step)
    return {"model": {"w": torch.randn(n, generator=g)}, "progress": {"step": step}}


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def files_of(*steps: int, kind: str = "step") -> list[str]:
    return [f"{kind}-{s:08d}.pt{ext}" for s in steps for ext in ("", ".json")]


# -- opens anywhere ---------------------------------------------------------------------------

def test_every_checkpoint_opens_with_plain_torch_load_and_no_learnsys(runs_dir, tmp_path):
    run = train(runs_dir, "a", epochs=3)
    ckpts = run.folder.checkpoints
    Checkpointer(ckpts).save_best(18, read_verified(ckpts / "step-00000018.pt"), "dev/loss", 0.5)
    paths = sorted(ckpts.glob("*.pt"))
    assert [p.name for p in paths] == ["best-00000018.pt", "step-00000010.pt", "step-00000018.pt"]
    for p in paths:
        assert_bitwise(torch.load(p, weights_only=True), read_verified(p), p.name)
    # A fresh interpreter that never imports learnsys (-I: no PYTHONPATH, no cwd on sys.path).
    script = ("import sys, torch\n"
              "for p in sys.argv[1:]:\n"
              "    s = torch.load(p, weights_only=True)\n"
              "    print(p.rsplit('/', 1)[-1], sorted(s), s['progress']['step'], tuple(s['model']['net.0.weight'].shape))\n"
              "assert not [m for m in sys.modules if m.startswith('learnsys')]\n")
    out = subprocess.run([sys.executable, "-I", "-c", script, *map(str, paths)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(paths)
    for line, p in zip(lines, paths):
        name, rest = line.split(" ", 1)
        assert name == p.name and "'model', 'optimizer'" in rest and "(8, 2)" in rest
        assert rest.split("] ")[1].startswith(str(read_verified(p)["progress"]["step"]))


# -- old format ------------------------------------------------------------------------------

def to_old_format(folder: Path) -> None:
    """Rewrite every checkpoint as the format-1 code wrote it: `LEARNSYS-CKPT 1 <sha256>\\n` + the
    torch.save bytes, no sidecar, a format-1 manifest."""
    entries = []
    for p in sorted(folder.glob("step-*.pt")):
        payload = p.read_bytes()
        digest = hashlib.sha256(payload).hexdigest()
        p.write_bytes(b"LEARNSYS-CKPT 1 " + digest.encode() + b"\n" + payload)
        (folder / f"{p.name}.json").unlink()
        entries.append({"file": p.name, "step": int(p.stem[5:]), "sha256": digest, "bytes": p.stat().st_size,
                        "time": 0.0})
    (folder / MANIFEST).write_text(json.dumps({"format": 1, "checkpoints": entries}))


def test_old_format_checkpoints_resume_bitwise(runs_dir, reference):  # noqa: F811 (a fixture)
    run = train(runs_dir, "a", callbacks=[StopAtStep(23)])
    ckpts = run.folder.checkpoints
    before = {p.name: read_verified(p) for p in ckpts.glob("step-*.pt")}
    to_old_format(ckpts)
    assert all(p.read_bytes().startswith(b"LEARNSYS-CKPT 1 ") for p in ckpts.glob("step-*.pt"))
    for name, state in before.items():  # converted on read: the header's sha256 checked, then stripped
        assert_bitwise(read_verified(ckpts / name), state, name)
    api.resume("a", runs_dir=runs_dir)
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")
    newest = ckpts / "step-00000036.pt"
    assert_bitwise(torch.load(newest, weights_only=True), read_verified(newest))  # new files: the new format


@pytest.mark.parametrize("damage, says", [(flip_bit, "fails its checksum (sha256"),
                                          (lambda p: p.write_bytes(p.read_bytes()[:40]), "has no valid header")])
def test_a_damaged_old_format_file_is_one_warning_and_the_previous_one_is_used(cli, runs_dir, damage, says):
    train(runs_dir, "a", callbacks=[StopAtStep(23)])
    ckpts = runs_dir / "a" / "checkpoints"
    to_old_format(ckpts)
    damage(ckpts / "step-00000024.pt")
    found, warnings = Checkpointer(ckpts).latest()
    assert found.step == 20 and len(warnings) == 1 and "step-00000024.pt" in warnings[0] and says in warnings[0]
    r = resume_cli(cli, runs_dir, "a")
    assert r.code == 0 and r.err.strip().splitlines() == [f"warning: {warnings[0]}"]


# -- a kill between the two renames ----------------------------------------------------------

def killed(_path):
    raise KeyboardInterrupt  # stands for SIGKILL at this point: nothing is cleaned up


def test_a_kill_between_the_renames_leaves_the_previous_checkpoint_and_the_next_write_cleans_up(tmp_path):
    ckpt = Checkpointer(tmp_path, keep=3)
    ckpt.save(10, state_of(10))
    ckpt.between_renames = killed
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(20, state_of(20))
    # the sidecar is in place, the .pt is still a temp file: step 20 does not exist yet
    assert names(tmp_path) == [".step-00000020.pt.tmp", MANIFEST, *files_of(10), "step-00000020.pt.json"]
    found, warnings = Checkpointer(tmp_path).latest()
    assert found.step == 10 and warnings == []
    assert_bitwise(found.state, state_of(10))
    ckpt.between_renames = None
    ckpt.save(20, state_of(20))  # what the resumed run does next
    ckpt.wait()
    assert names(tmp_path) == [MANIFEST, *files_of(10, 20)]
    assert_bitwise(Checkpointer(tmp_path).latest()[0].state, state_of(20))


def test_a_kill_between_the_renames_over_an_older_file_of_that_step_is_detected(tmp_path):
    """A resume passed over a damaged step 20 and writes step 20 again; killed between the renames,
    the new sidecar sits beside the old file: it fails its checksum, and step 10 is used."""
    ckpt = Checkpointer(tmp_path, keep=3)
    ckpt.save(10, state_of(10))
    ckpt.save(20, state_of(99))
    flip_bit(tmp_path / "step-00000020.pt")
    ckpt.between_renames = killed
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(20, state_of(20))
    found, warnings = Checkpointer(tmp_path).latest()
    assert found.step == 10 and len(warnings) == 1 and "step-00000020.pt fails its checksum" in warnings[0]
    ckpt.between_renames = None
    ckpt.save(20, state_of(20))
    assert_bitwise(Checkpointer(tmp_path).latest()[0].state, state_of(20))


# -- a full disk, anywhere in the write ----------------------------------------------------------

def disk_full_in(monkeypatch, file_name: str, after: int) -> None:
    """The disk fills once `after` bytes of `file_name` are written (every byte goes through write_fd)."""
    real, written = checkpoint_file.write_fd, {}

    def write_fd(fd, data):
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        written[name] = written.get(name, 0) + data.nbytes
        if name == file_name and written[name] > after:
            raise OSError(28, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(checkpoint_file, "write_fd", write_fd)


@pytest.mark.parametrize("background", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("file_name, after", [(".step-00000002.pt.tmp", 0),       # its first byte
                                              (".step-00000002.pt.tmp", 50_000),  # inside a tensor's record
                                              (".step-00000002.pt.json.tmp", 0)])  # the sidecar
def test_a_full_disk_anywhere_in_the_write_is_one_error_and_leaves_the_previous_one(tmp_path, monkeypatch, file_name,
                                                                                   after, background):
    ckpt = Checkpointer(tmp_path, keep=3)
    ckpt.save(1, state_of(1, 40_000))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    disk_full_in(monkeypatch, file_name, after)
    with pytest.raises(CheckpointError) as info:
        if background:
            ckpt.save_async(2, state_of(2, 40_000))
            ckpt.wait()
        else:
            ckpt.save(2, state_of(2, 40_000))
    message = info.value.args[0]
    assert "\n" not in message and message.startswith(f"Cannot write checkpoint {tmp_path / 'step-00000002.pt'}: "
                                                      "No space left on device. Free space")
    assert "the checkpoint at step 1 is intact" in message and "learnsys resume" in message
    assert isinstance(info.value.__cause__, OSError)  # torch's own RuntimeError is replaced by the disk's error
    ckpt.wait()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing new, nothing half-written
    assert_bitwise(Checkpointer(tmp_path).latest()[0].state, state_of(1, 40_000))
    monkeypatch.undo()
    ckpt.save(2, state_of(2, 40_000))  # once there is room again
    assert Checkpointer(tmp_path).latest()[0].step == 2


def test_a_full_disk_when_only_the_manifest_is_left_keeps_the_new_checkpoint(tmp_path, monkeypatch):
    ckpt = Checkpointer(tmp_path, keep=3)
    ckpt.save(1, state_of(1))
    disk_full_in(monkeypatch, ".manifest.json.tmp", 0)
    ckpt.save(2, state_of(2))  # the checkpoint is complete; the manifest is an index, refreshed next time
    assert names(tmp_path) == [MANIFEST, *files_of(1, 2)]
    assert [e["step"] for e in json.loads((tmp_path / MANIFEST).read_text())["checkpoints"]] == [1]
    assert Checkpointer(tmp_path).latest()[0].step == 2


@pytest.mark.parametrize("where", ["fsync", "rename"])
def test_any_os_error_in_the_write_is_one_error_line(tmp_path, monkeypatch, where):
    ckpt = Checkpointer(tmp_path, keep=3)
    ckpt.save(1, state_of(1))
    before = names(tmp_path)

    def fail(*_args):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(checkpoint_file.os, where.replace("rename", "replace"), fail)
    with pytest.raises(CheckpointError, match=r"^Cannot write checkpoint .*step-00000002.pt: Input/output error\. "):
        ckpt.save(2, state_of(2))
    monkeypatch.undo()
    assert names(tmp_path) == before


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if done.returncode != 0:  # CI and these machines run as root; elsewhere the injected full disk above covers it
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")


def test_a_real_full_file_system(tmp_path):
    """A 256 KB tmpfs: a 12 KB checkpoint fits, a 400 KB one does not."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "256k")
    try:
        ckpt = Checkpointer(disk / "checkpoints", keep=3)
        ckpt.save(1, state_of(1, 3_000))
        before = {p.name: p.read_bytes() for p in ckpt.folder.iterdir()}
        for background in (False, True):
            with pytest.raises(CheckpointError, match=r"step-00000002.pt: No space left on device\. .*step 1 is "
                                                      "intact"):
                if background:
                    ckpt.save_async(2, state_of(2, 100_000))
                ckpt.save(2, state_of(2, 100_000))
            assert {p.name: p.read_bytes() for p in ckpt.folder.iterdir()} == before
        assert_bitwise(Checkpointer(ckpt.folder).latest()[0].state, state_of(1, 3_000))
        ckpt.save(2, state_of(2, 3_000))  # the failed writes left no space taken
        assert Checkpointer(ckpt.folder).latest()[0].step == 2
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# -- the best checkpoint and the selector -------------------------------------------------------

def test_the_best_checkpoint_is_kept_beside_the_last_k_and_replaced_by_a_better_one(tmp_path):
    ckpt = Checkpointer(tmp_path, keep=2)
    ckpt.save(10, state_of(10))
    ckpt.save_best(10, state_of(10), "dev/loss", 0.5)  # the step just written: linked, not written again
    assert os.stat(tmp_path / "best-00000010.pt").st_ino == os.stat(tmp_path / "step-00000010.pt").st_ino
    ckpt.save_best(15, state_of(15), "dev/loss", 0.4)  # an evaluation step between checkpoints: written
    for step in (20, 30, 40):
        ckpt.save(step, state_of(step))
    ckpt.wait()
    assert names(tmp_path) == [*files_of(15, kind="best"), MANIFEST, *files_of(30, 40)]
    found, warnings = ckpt.select("best")
    assert found.step == 15 and warnings == [] and found.path.name == "best-00000015.pt"
    assert_bitwise(found.state, state_of(15))
    assert_bitwise(torch.load(found.path, weights_only=True), state_of(15))
    sidecar = json.loads((tmp_path / "best-00000015.pt.json").read_text())
    assert sidecar["best"] == {"metric": "dev/loss", "value": 0.4} and sidecar["step"] == 15
    assert json.loads((tmp_path / MANIFEST).read_text())["best"]["file"] == "best-00000015.pt"
    ckpt.save_best(40, state_of(40), "dev/loss", 0.3, background=True)
    ckpt.save_best(45, state_of(45), "dev/loss", 0.2, background=True)
    ckpt.wait()
    assert names(tmp_path) == [*files_of(45, kind="best"), MANIFEST, *files_of(30, 40)]
    assert ckpt.select("best")[0].step == 45 and ckpt.select(45)[0].path.name == "best-00000045.pt"


def test_an_async_best_of_the_step_being_written_is_linked_after_it_without_waiting(tmp_path):
    import threading

    ckpt = Checkpointer(tmp_path, keep=2)
    release = threading.Event()
    ckpt.before_rename = lambda _tmp: release.wait(30)  # the background write of step 10 is held here
    ckpt.save_async(10, state_of(10))
    ckpt.save_best(10, state_of(10), "dev/loss", 0.5, background=True)  # returns while step 10 is held
    assert not (tmp_path / "step-00000010.pt").exists() and not (tmp_path / "best-00000010.pt").exists()
    release.set()
    ckpt.wait()
    assert os.stat(tmp_path / "best-00000010.pt").st_ino == os.stat(tmp_path / "step-00000010.pt").st_ino
    assert_bitwise(ckpt.select("best")[0].state, state_of(10))
    ckpt.before_rename = lambda _tmp: (_ for _ in ()).throw(OSError(28, "No space left on device"))
    ckpt.save_async(20, state_of(20))
    ckpt.save_best(20, state_of(20), "dev/loss", 0.4, background=True)
    with pytest.raises(CheckpointError, match="step-00000020.pt: No space left on device"):
        ckpt.wait()
    ckpt.wait()  # the error is raised once; the best of step 20 was never made
    assert names(tmp_path) == [*files_of(10, kind="best"), MANIFEST, *files_of(10)]


def test_a_regular_write_before_the_best_step_removes_the_stale_best(tmp_path):
    """After a resume from step 30 the best of step 35 (written by the dead process) is in the
    resumed run's future: the next write drops it (the run writes it again when it gets there)."""
    ckpt = Checkpointer(tmp_path, keep=3)
    ckpt.save(30, state_of(30))
    ckpt.save_best(20, state_of(20), "dev/loss", 0.5)
    ckpt.save_best(35, state_of(35), "dev/loss", 0.4)
    ckpt.save(31, state_of(31))
    ckpt.wait()
    assert "best-00000035.pt" not in names(tmp_path)
    with pytest.raises(LearnsysError, match=r"^No best checkpoint in .*--keep-best METRIC\. Pass --checkpoint with "
                                            r"one of: last, 31, 30\.$"):
        ckpt.select("best")


def test_the_selector_names_what_exists_when_the_asked_one_does_not(tmp_path):
    ckpt = Checkpointer(tmp_path, keep=2)
    for step in (10, 20, 30):
        ckpt.save(step, state_of(step))
    ckpt.save_best(20, state_of(20), "dev/loss", 0.1)
    ckpt.wait()
    assert ckpt.select("last")[0].step == 30 and ckpt.select(" LAST ")[0].step == 30
    assert_bitwise(ckpt.select("20")[0].state, state_of(20))
    with pytest.raises(LearnsysError) as info:
        ckpt.select(10)  # pruned
    assert info.value.args[0] == (f"No checkpoint at step 10 in {tmp_path}. Pass --checkpoint with one of: last, "
                                  "best (step 20), 30, 20.")
    flip_bit(tmp_path / "best-00000020.pt")
    with pytest.raises(CheckpointError, match=r"best-00000020.pt fails its checksum .*one of: last, 30, 20\.$"):
        ckpt.select("best")
    with pytest.raises(LearnsysError, match=r"^No usable checkpoint in .*Train the run"):
        Checkpointer(tmp_path / "none").select("last")


@pytest.mark.parametrize("text, value", [("best", "best"), ("Last", "last"), ("120", 120), (7, 7), ("0", 0)])
def test_selector_values(text, value):
    assert parse_selector(text) == value


@pytest.mark.parametrize("text", ["", "first", "-1", "1.5", "1e3", "9" * 20])
def test_bad_selector_values_are_one_line(text):
    with pytest.raises(LearnsysError, match=r"^--checkpoint .* is not best, last or a step number"):
        parse_selector(text)
