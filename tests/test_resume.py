"""Exact resume (issue 3), in process: damaged checkpoints, refused and allowed changes,
graceful stops, the guard's rollback target, async checkpoints, run status after a crash.

The kill harness with real SIGKILLs is tests/test_resume_kill.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from learnsys import api
from learnsys.errors import CallbackError, CheckpointError
from learnsys.spec import RunSpec
from learnsys.store import RunStore, lock_holder
from learnsys.train.callbacks import Callback
from learnsys.train.checkpoint import MANIFEST, Checkpointer, read_verified
from learnsys.train.resume import exactness_limits
from learnsys.train.checkpoint_file import CHECKSUMS
from .resume_checks import assert_bitwise, assert_same_state, newest_state

# 90 train rows / batch 16 = 6 steps per epoch, 6 epochs = 36 steps; checkpoints at 0, 10,
# 20, 30 and 36 (the end), the last 3 kept.
BASE = dict(data="synthetic-linear", data_args={"size": 120, "features": 2, "noise": 0.3}, dev=0.25, model="mlp:8",
            optimizer="adam", lr=0.02, scheduler="StepLR", scheduler_args={"step_size": 2, "gamma": 0.5},
            batch_size=16, epochs=6, eval_every=5, checkpoint_every=10, checkpoint_seconds=0, keep_checkpoints=3, seed=1)
TOTAL = 36


def train(runs: Path, run_id: str, callbacks=(), **changes) -> api.Run:
    return api.train(RunSpec.from_dict({**BASE, **changes, "run_id": run_id}), runs_dir=runs, callbacks=callbacks)


def history(runs: Path, run_id: str) -> list:
    return api.load_run(run_id, runs_dir=runs).history()


def status(runs: Path, run_id: str) -> str:
    return RunStore(runs / "learnsys.sqlite", readonly=True).run(run_id)["status"]


def snapshot(runs: Path, run_id: str) -> tuple:
    """Everything a refused resume must leave as it was."""
    folder = runs / run_id
    files = {p.name: p.read_bytes() for p in sorted((folder / "checkpoints").iterdir())}
    return files, (folder / "spec.toml").read_text(), history(runs, run_id), status(runs, run_id)


def resume_cli(cli, runs: Path, run_id: str, *flags: str):
    return cli("resume", run_id, "--runs-dir", runs, "--no-ui", "--quiet", *flags)


class StopAtStep(Callback):
    """What SIGINT does, at a chosen step: the loop finishes the step, checkpoints, returns."""

    def __init__(self, step: int):
        self.step = step

    def on_epoch_end(self, trainer, logs):
        if logs["step"] >= self.step:
            trainer.stop(f"test stop at step {logs['step']}")


class StopAtExactStep(StopAtStep):
    """The same, at that very step (a Ctrl-C mid-epoch)."""

    def on_step(self, trainer, logs):
        if logs["step"] >= self.step:
            trainer.stop(f"test stop at step {logs['step']}")

    def on_epoch_end(self, trainer, logs):
        pass


@pytest.fixture
def reference(runs_dir: Path) -> Path:
    train(runs_dir, "ref")
    return runs_dir / "ref"


# -- damaged checkpoints ----------------------------------------------------------------

def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) * 2 // 3] ^= 0x10
    path.write_bytes(bytes(data))


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:20])


def lose_sidecar(path: Path) -> None:
    (path.parent / f"{path.name}.json").unlink()


def garble_sidecar(path: Path) -> None:
    (path.parent / f"{path.name}.json").write_text('{"format": 2, "file": ')


@pytest.mark.parametrize("damage, says", [(truncate, "its checksum file says"), (flip_bit, "fails its checksum"),
                                          (cut_short, "truncated or corrupted"),
                                          (lose_sidecar, "cannot be verified: its checksum file"),
                                          (garble_sidecar, ".pt.json is unreadable")])
def test_damaged_newest_checkpoint_is_reported_and_the_previous_one_used(cli, runs_dir, reference, damage, says):
    train(runs_dir, "a")
    newest = runs_dir / "a" / "checkpoints" / f"step-{TOTAL:08d}.pt"
    damage(newest)
    r = resume_cli(cli, runs_dir, "a")
    assert r.code == 0, r.err
    warnings = r.err.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: Checkpoint") and says in warnings[0]
    assert newest.name in warnings[0] and "trying the previous one" in warnings[0]
    assert f"finished at step {TOTAL}" in r.out
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")


def test_missing_manifest_is_one_warning_and_files_are_still_verified(cli, runs_dir, reference):
    train(runs_dir, "a", epochs=3)                               # ends at step 18, off the checkpoint schedule
    ckpts = runs_dir / "a" / "checkpoints"
    (ckpts / MANIFEST).unlink()
    flip_bit(ckpts / "step-00000018.pt")
    r = resume_cli(cli, runs_dir, "a", "--epochs", "6")
    assert r.code == 0, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 2 and "manifest.json is missing" in lines[0] and "step-00000018.pt fails" in lines[1]
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")
    assert json.loads((ckpts / MANIFEST).read_text())["checkpoints"][-1]["step"] == TOTAL


def test_no_good_checkpoint_is_one_error_and_changes_nothing(cli, runs_dir):
    train(runs_dir, "a", epochs=3)
    files = list((runs_dir / "a" / "checkpoints").glob("step-*.pt"))
    for p in files:
        flip_bit(p)
    before = snapshot(runs_dir, "a")
    r = resume_cli(cli, runs_dir, "a", "--epochs", "6")
    assert r.code != 0
    lines = r.err.strip().splitlines()
    assert lines[-1].startswith("error: Run a has no usable checkpoint") and "nothing was changed" in lines[-1]
    assert all(line.startswith("warning: Checkpoint") for line in lines[:-1]) and len(lines) == 1 + len(files) == 3
    assert snapshot(runs_dir, "a") == before


def test_resume_of_a_finished_run_says_so_and_changes_nothing(cli, runs_dir, reference):
    before = snapshot(runs_dir, "ref")
    r = resume_cli(cli, runs_dir, "ref")
    assert r.code == 0 and r.err == ""
    assert f"already finished at step {TOTAL} of {TOTAL}" in r.out and "--epochs" in r.out
    assert snapshot(runs_dir, "ref") == before


def test_a_stop_asked_at_the_last_step_leaves_a_finished_run(runs_dir):
    run = train(runs_dir, "a", callbacks=[StopAtExactStep(TOTAL)])  # a Ctrl-C during the last step
    assert run.result.status == "finished" and run.result.reason == f"reached step {TOTAL}"
    assert status(runs_dir, "a") == "finished"


@pytest.mark.parametrize("row", ["stopped", "running"])  # a Ctrl-C, or a kill, after the last checkpoint
def test_resume_of_a_run_whose_row_missed_its_end_marks_it_finished(cli, runs_dir, reference, row):
    store = RunStore(runs_dir / "learnsys.sqlite")
    store.update_run("ref", status=row, message="interrupted by SIGINT")
    store.close()
    files = snapshot(runs_dir, "ref")[0]
    r = resume_cli(cli, runs_dir, "ref")
    assert r.code == 0 and r.err == "" and f"already finished at step {TOTAL} of {TOTAL}" in r.out
    record = RunStore(runs_dir / "learnsys.sqlite", readonly=True).run("ref")
    assert (record["status"], record["step"], record["message"]) == ("finished", TOTAL, f"reached step {TOTAL}")
    events = RunStore(runs_dir / "learnsys.sqlite", readonly=True).events("ref")
    assert events[-1]["kind"] == "end" and snapshot(runs_dir, "ref")[0] == files  # checkpoints untouched
    assert lock_holder(runs_dir / "ref") is None


# -- what may change on resume ----------------------------------------------------------

@pytest.mark.parametrize("first, extend", [(dict(epochs=3), ("--epochs", "6")),     # ends off schedule (18)
                                           (dict(steps=20), ("--steps", "36"))])    # ends on schedule (20)
def test_extending_a_finished_run_equals_the_longer_uninterrupted_run(cli, runs_dir, reference, first, extend):
    train(runs_dir, "a", **first)
    r = resume_cli(cli, runs_dir, "a", *extend)
    assert r.code == 0 and r.err == "", r.err
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")
    assert RunSpec.load(runs_dir / "a" / "spec.toml").to_dict()[extend[0][2:]] == int(extend[1])


@pytest.mark.parametrize("flags, field", [(("--batch-size", "8"), "batch_size"),
                                          (("--data", "lecture"), "data"),
                                          (("--model", "mlp:16"), "model"),
                                          (("--seed", "2"), "seed"),
                                          (("--optimizer", "sgd", "--epochs", "9"), "optimizer")])
def test_a_change_that_breaks_exactness_is_refused_and_changes_nothing(cli, runs_dir, flags, field):
    train(runs_dir, "a", epochs=3)
    before = snapshot(runs_dir, "a")
    r = resume_cli(cli, runs_dir, "a", *flags)
    assert r.code == 2 and r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Cannot change {field} on resume")
    assert f"trained with {field} = " in lines[0] and "Allowed changes: epochs, steps, lr" in lines[0]
    assert snapshot(runs_dir, "a") == before


def test_unchanged_values_of_other_fields_are_accepted(cli, runs_dir, reference):
    train(runs_dir, "a", epochs=3)
    r = resume_cli(cli, runs_dir, "a", "--batch-size", "16", "--seed", "1", "--epochs", "6", "--async-checkpoint",
                   "--keep-checkpoints", "2")
    assert r.code == 0, r.err
    assert_same_state(reference, runs_dir / "a")
    assert len(list((runs_dir / "a" / "checkpoints").glob("step-*.pt"))) == 2


def test_a_new_learning_rate_applies_from_the_checkpoint_on(cli, runs_dir):
    train(runs_dir, "a", epochs=3, scheduler="", scheduler_args={})
    r = resume_cli(cli, runs_dir, "a", "--epochs", "6", "--lr", "0.001")
    assert r.code == 0, r.err
    lrs = dict((s, v) for s, n, v in history(runs_dir, "a") if n == "lr")
    assert lrs[18] == 0.02 and lrs[19] == 0.001 and lrs[TOTAL] == 0.001


# -- graceful stop, the guard, async ------------------------------------------------------

def test_stop_then_resume_equals_the_uninterrupted_run(runs_dir, reference):
    run = train(runs_dir, "a", callbacks=[StopAtStep(23)])
    assert run.result.status == "stopped" and run.result.step == 24  # the epoch ends at 24; every step checks
    assert status(runs_dir, "a") == "stopped"
    assert newest_state(runs_dir / "a")[0] == 24
    api.resume("a", runs_dir=runs_dir)
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")


def test_guard_rollback_target_survives_a_stop_off_the_checkpoint_schedule(runs_dir):
    # lr 0.5 makes gradient descent on the lecture data diverge; the guard (every step on the
    # CPU) rolls back to the state at the last multiple of checkpoint_every and lowers lr (x0.5,
    # then x0.05): at step 4 to step 0's state, at step 12 to step 10's. A stop at step 11 must
    # not move the second rollback's target (step 10's state, taken before the stop).
    diverging = dict(data="lecture", data_args={}, dev=0.0, model="linear", optimizer="sgd", lr=0.5, scheduler="",
                     scheduler_args={}, batch_size="full", epochs=150, eval_every=0, checkpoint_every=10,
                     checkpoint_seconds=0)
    train(runs_dir, "ref", **diverging)
    rollbacks = [e for e in RunStore(runs_dir / "learnsys.sqlite", readonly=True).events("ref")
                 if e["kind"] == "divergence"]
    assert [e["step"] for e in rollbacks] == [4, 12]
    run = train(runs_dir, "a", callbacks=[StopAtStep(11)], **diverging)
    assert run.result.status == "stopped" and run.result.step == 11
    assert "snapshot" in newest_state(runs_dir / "a")[1]["guard"]  # off schedule: the target travels along
    api.resume("a", runs_dir=runs_dir)
    assert_same_state(runs_dir / "ref", runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")


def test_async_checkpoints_hold_the_same_states_and_resume_the_same(runs_dir, reference):
    run = train(runs_dir, "a", async_checkpoint=True, callbacks=[StopAtStep(23)])
    assert run.result.status == "stopped"
    api.resume("a", runs_dir=runs_dir)
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")
    train(runs_dir, "b", async_checkpoint=True)
    for p in sorted((reference / "checkpoints").glob("step-*.pt")):
        assert_bitwise(read_verified(p), read_verified(runs_dir / "b" / "checkpoints" / p.name), p.name)


def test_async_write_error_is_raised_on_the_loop_thread(tmp_path):
    ckpt = Checkpointer(tmp_path / "c")

    def fail(_path):
        raise OSError(28, "No space left on device")

    ckpt.before_rename = fail
    ckpt.save_async(1, {"w": torch.ones(3)})
    with pytest.raises(CheckpointError, match=r"Cannot write checkpoint .*step-00000001.pt: No space left on device"):
        ckpt.wait()
    assert list((tmp_path / "c").iterdir()) == []  # no temp file left behind
    ckpt.before_rename = None
    ckpt.save_async(2, {"w": torch.ones(3)})
    ckpt.wait()
    assert ckpt.latest()[0].step == 2


def test_quiet_runs_keep_the_console_smoothing_state(runs_dir, reference):
    smoothed = newest_state(reference)[1]["callbacks"]["console"]["smoothed"]
    assert isinstance(smoothed, float)


# -- the checkpoint folder after kills ------------------------------------------------------

def test_a_kill_between_rename_and_manifest_loses_nothing(tmp_path):
    ckpt = Checkpointer(tmp_path, keep=2)
    ckpt.save(10, {"w": torch.full((2,), 10.0)})

    def killed(_path):
        raise KeyboardInterrupt  # stands for SIGKILL at this point

    ckpt.before_manifest = killed
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(20, {"w": torch.full((2,), 20.0)})
    assert [e["step"] for e in json.loads((tmp_path / MANIFEST).read_text())["checkpoints"]] == [10]
    found, warnings = Checkpointer(tmp_path).latest()
    assert found.step == 20 and warnings == []
    ckpt.before_manifest = None
    ckpt.save(30, {"w": torch.full((2,), 30.0)})
    ckpt.wait()  # superseded files are deleted on a helper thread
    entries = json.loads((tmp_path / MANIFEST).read_text())["checkpoints"]
    assert [e["step"] for e in entries] == [20, 30] and all(e["checksum"].split(":")[0] in CHECKSUMS for e in entries)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST, "step-00000020.pt", "step-00000020.pt.json",
                                                         "step-00000030.pt", "step-00000030.pt.json"]


def test_temp_files_and_stale_newer_checkpoints_are_removed_by_the_next_write(tmp_path):
    ckpt = Checkpointer(tmp_path, keep=3)
    for step in (10, 20, 30):
        ckpt.save(step, {"w": torch.full((2,), float(step))})
    flip_bit(tmp_path / "step-00000030.pt")
    (tmp_path / ".step-00000040.pt.tmp").write_bytes(b"half a checkpoint")
    found, _ = ckpt.latest()
    assert found.step == 20          # a resume continues from 20 and writes 30 again later
    ckpt.save(25, {"w": torch.zeros(2)})
    ckpt.wait()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pt") == ["step-00000010.pt", "step-00000020.pt",
                                                                               "step-00000025.pt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".pt") == [
        MANIFEST, "step-00000010.pt.json", "step-00000020.pt.json", "step-00000025.pt.json"]


# -- run status after a crash -----------------------------------------------------------

def test_a_failing_callback_marks_the_run_failed_not_running(runs_dir):
    class Boom(Callback):
        def on_epoch_end(self, trainer, logs):
            if logs["step"] >= 12:
                raise RuntimeError("disk on fire")

    with pytest.raises(CallbackError, match="Boom failed in on_epoch_end"):
        train(runs_dir, "a", callbacks=[Boom()])
    rec = RunStore(runs_dir / "learnsys.sqlite", readonly=True).run("a")
    assert rec["status"] == "failed" and "disk on fire" in rec["message"]


def test_a_killed_run_shows_interrupted_and_a_live_one_cannot_be_resumed(cli, runs_dir):
    train(runs_dir, "a", epochs=3)
    store = RunStore(runs_dir / "learnsys.sqlite")
    store.update_run("a", status="running")  # what a kill -9 leaves behind: nobody holds the run's lock
    store.close()
    assert status(runs_dir, "a") == "interrupted"
    r = cli("runs", "--runs-dir", runs_dir, "--json")
    assert [x["status"] for x in json.loads(r.out)] == ["interrupted"]
    # A live trainer: another process that holds the run folder's lock.
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from learnsys.store import RunLock; "
                               "lock = RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(60)",
                               str(runs_dir / "a")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert status(runs_dir, "a") == "running"
        before = snapshot(runs_dir, "a")
        r = resume_cli(cli, runs_dir, "a", "--epochs", "6")
        assert r.code == 2 and f"still being trained by process {holder.pid}" in r.err
        assert len(r.err.strip().splitlines()) == 1
        assert snapshot(runs_dir, "a") == before
    finally:
        holder.kill()
        holder.wait()
    assert status(runs_dir, "a") == "interrupted"  # the kernel dropped the lock with the process


def test_changed_data_file_is_refused(cli, runs_dir, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(12)))
    api.train(RunSpec.from_dict(dict(data=str(csv), model="linear", batch_size=4, epochs=2, run_id="c")),
              runs_dir=runs_dir)
    csv.write_text("x,y\n" + "".join(f"{i},{2 * i + 2}\n" for i in range(12)))
    before = snapshot(runs_dir, "c")
    r = resume_cli(cli, runs_dir, "c", "--epochs", "4")
    assert r.code == 2 and "is not what it was trained on" in r.err and len(r.err.strip().splitlines()) == 1
    assert snapshot(runs_dir, "c") == before


def test_a_different_environment_is_said_in_one_line(runs_dir, reference):
    _, state = newest_state(reference)
    cpu = torch.device("cpu")
    assert exactness_limits(state, cpu) == []
    state["env"]["threads"] = torch.get_num_threads() + 3
    lines = exactness_limits(state, cpu)
    assert len(lines) == 1 and "threads" in lines[0] and "last bits" in lines[0]


def test_a_second_ctrl_c_stops_at_once_and_the_run_resumes_from_its_last_checkpoint(runs_dir, reference):
    import signal

    class CtrlCTwice(Callback):
        def on_epoch_end(self, trainer, logs):
            if logs["step"] == 12:
                os.kill(os.getpid(), signal.SIGINT)  # the first asks for a graceful stop ...
                os.kill(os.getpid(), signal.SIGINT)  # ... the second does not wait for it

    with pytest.raises(KeyboardInterrupt):
        train(runs_dir, "a", callbacks=[CtrlCTwice()])
    assert status(runs_dir, "a") == "stopped" and lock_holder(runs_dir / "a") is None
    assert newest_state(runs_dir / "a")[0] == 10
    api.resume("a", runs_dir=runs_dir)
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")


def test_cuda_without_deterministic_algorithms_is_said_in_one_line(runs_dir, reference):
    _, state = newest_state(reference)
    lines = exactness_limits(state, torch.device("cuda"))
    assert len(lines) == 1 and "cuda" in lines[0] and "use_deterministic_algorithms" in lines[0]


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(cli, runs_dir, reference):
    class DiesAtStart(Callback):
        def on_fit_start(self, trainer, logs):
            raise RuntimeError("killed before the step-0 checkpoint")

    with pytest.raises(CallbackError):
        train(runs_dir, "a", callbacks=[DiesAtStart()])
    assert list((runs_dir / "a" / "checkpoints").glob("step-*.pt")) == []
    r = resume_cli(cli, runs_dir, "a")
    assert r.code == 0, r.err
    assert r.err.strip() == "warning: Run a has no checkpoint yet (it was stopped before its first); starting it at step 0."
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")


def test_spec_toml_is_replaced_atomically(tmp_path):
    spec = RunSpec.from_dict(BASE)
    spec.save(tmp_path / "spec.toml")
    spec.replace(epochs=9).save(tmp_path / "spec.toml")
    assert RunSpec.load(tmp_path / "spec.toml").epochs == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


DROPOUT_MODEL = '''
import torch


class Drop(torch.nn.Module):
    """Draws from torch's RNG every training step: resume must restore the generator."""

    def __init__(self):
        super().__init__()
        self.l1, self.drop, self.l2 = torch.nn.Linear(2, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1)

    def forward(self, x):
        return self.l2(self.drop(torch.relu(self.l1(x))))
'''

VARIANTS = {
    "sgd-one-row-nesterov": dict(batch_size=1, epochs=1, optimizer="sgd", lr=0.01,
                                 optimizer_args={"momentum": 0.9, "nesterov": True}, scheduler="", scheduler_args={}),
    "full-batch": dict(batch_size="full", epochs=30),
    "per-step-cosine": dict(scheduler="CosineAnnealingLR", scheduler_args={"T_max": 36}, scheduler_interval="step"),
    "no-shuffle-rmsprop": dict(shuffle=False, optimizer="rmsprop", optimizer_args={"weight_decay": 0.01}),
    "classes-accuracy": dict(data="synthetic-classes", data_args={"size": 120, "features": 2, "classes": 3},
                             model="softmax", standardize=True),
    "dropout-user-model": dict(model="<DROPOUT>"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("how", ["graceful", "killed"])
def test_stop_or_kill_then_resume_is_exact_across_loops(runs_dir, tmp_path, variant, how):
    extra = dict(VARIANTS[variant])
    if extra.get("model") == "<DROPOUT>":
        (tmp_path / "drop.py").write_text(DROPOUT_MODEL)
        extra["model"] = f"{tmp_path / 'drop.py'}:Drop"
    ref = train(runs_dir, "ref", **extra)
    total = ref.result.step
    stop_at = total // 2 + 3  # off the checkpoint schedule
    run = train(runs_dir, "a", callbacks=[StopAtExactStep(stop_at)], **extra)
    assert run.result.status == "stopped"
    if how == "killed":  # as if SIGKILL came just before the stop's checkpoint: rows after the last one remain
        stopped_at = newest_state(runs_dir / "a")[0]
        (runs_dir / "a" / "checkpoints" / f"step-{stopped_at:08d}.pt").unlink()
        assert max(s for s, _, _ in history(runs_dir, "a")) == stopped_at
    api.resume("a", runs_dir=runs_dir)
    assert_same_state(runs_dir / "ref", runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")


def test_a_python_object_model_gets_a_step_0_checkpoint_and_resumes_exactly(runs_dir):
    def module() -> torch.nn.Module:
        torch.manual_seed(5)
        return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0]]) + 0.1 * torch.randn(40, 1, generator=g)
    fields = dict(runs_dir=runs_dir, optimizer="adam", lr=0.05, batch_size=8, epochs=4, checkpoint_every=50, checkpoint_seconds=0)
    api.fit(module(), (x, y), run_id="ref", **fields)

    class Dies(Callback):
        def on_epoch_end(self, trainer, logs):
            raise RuntimeError("killed in the first interval")

    with pytest.raises(CallbackError):
        api.fit(module(), (x, y), run_id="a", callbacks=[Dies()], **fields)
    assert newest_state(runs_dir / "a")[0] == 0
    api.resume("a", runs_dir=runs_dir, model=module())
    assert_same_state(runs_dir / "ref", runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")


def test_tensorboard_drops_what_a_killed_process_wrote_after_the_checkpoint(runs_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    api.train(RunSpec.from_dict({**BASE, "run_id": "a"}), runs_dir=runs_dir, callbacks=[StopAtStep(23)],
              tensorboard=tb)
    stopped_at = newest_state(runs_dir / "a")[0]
    (runs_dir / "a" / "checkpoints" / f"step-{stopped_at:08d}.pt").unlink()  # as if killed before it
    api.resume("a", runs_dir=runs_dir, tensorboard=tb)
    events = EventAccumulator(str(tb / "a"))
    events.Reload()
    steps, values = api.load_run("a", runs_dir=runs_dir).metrics()["train/loss"]
    assert [s.step for s in events.Scalars("train/loss")] == steps == list(range(1, TOTAL + 1))
    assert [s.value for s in events.Scalars("train/loss")] == pytest.approx(values, rel=1e-6)


def test_a_full_disk_is_one_error_line_and_the_run_resumes_later(cli, runs_dir, reference, monkeypatch):
    """The disk fills halfway through the payload of step 20 (torch.save then raises its own
    RuntimeError): one error line, exit 1, the run failed, nothing half-written; resume is exact."""
    from learnsys.train import checkpoint_file

    real, written = checkpoint_file.write_fd, {}

    def full_disk_in_step_20(fd, data):
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        written[name] = written.get(name, 0) + data.nbytes
        if name == ".step-00000020.pt.tmp" and written[name] > 3000:
            raise OSError(28, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(checkpoint_file, "write_fd", full_disk_in_step_20)
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--config", write_config(runs_dir, "a"))
    assert r.code == 1, r.err
    assert r.err.count("\n") == 1 and r.err.startswith("error: Cannot write checkpoint")
    assert "step-00000020.pt: No space left on device" in r.err and "the checkpoint at step 10 is intact" in r.err
    assert status(runs_dir, "a") == "failed"
    ckpts = runs_dir / "a" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == [MANIFEST, "step-00000010.pt", "step-00000010.pt.json"]
    assert read_verified(ckpts / "step-00000010.pt")["progress"]["step"] == 10  # the previous one is intact
    monkeypatch.setattr(checkpoint_file, "write_fd", real)
    assert resume_cli(cli, runs_dir, "a").code == 0
    assert_same_state(reference, runs_dir / "a")
    assert history(runs_dir, "a") == history(runs_dir, "ref")


def write_config(runs_dir: Path, run_id: str) -> Path:
    path = runs_dir.parent / f"{run_id}.toml"
    RunSpec.from_dict({**BASE, "run_id": run_id}).save(path)
    return path
