"""The GPU path (issue 10), run by benchmarks/gpu_check.sh on a machine with an NVIDIA GPU
(`pytest --gpu`); deselected elsewhere. The device path, no host sync per step (counted with
torch.cuda.set_sync_debug_mode), fp16/bf16 resume bitwise with deterministic algorithms, nccl
DDP through torchrun with one process."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch

import learnsys
from learnsys.train.callbacks import Callback

from .conftest import REPO

pytestmark = pytest.mark.gpu

KW = dict(data="synthetic-linear", data_args={"size": 4096, "features": 16}, batch_size=64, epochs=4, lr=0.01,
          optimizer="adam", device="cuda", checkpoint_every=50, checkpoint_seconds=0)


class StopAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step(self, trainer, logs):
        if logs["step"] == self.step:
            trainer.stop("test stop")


@pytest.fixture(autouse=True)
def deterministic():
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def test_the_device_path_keeps_model_data_and_metrics_on_the_gpu(runs_dir):
    seen = {}

    class Where(Callback):
        def on_fit_start(self, trainer, logs):
            seen["x"], seen["model"] = trainer.x.device.type, next(trainer.model.parameters()).device.type

    run = learnsys.fit("mlp:64", runs_dir=runs_dir, callbacks=[Where()], **KW)
    assert seen == {"x": "cuda", "model": "cuda"} and run.result.status == "finished"
    assert len(run.metrics()["train/loss"][0]) == run.result.step


def test_no_host_sync_per_step(runs_dir):
    """Syncs come from flushes (a few a second), guard checks (every 50 steps) and checkpoints,
    never from each step: far fewer than the steps."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = learnsys.fit("mlp:64", runs_dir=runs_dir, **{**KW, "epochs": 8, "checkpoint_every": 10**9})
    finally:
        torch.cuda.set_sync_debug_mode(0)
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    steps = run.result.step   # 8 epochs x 64 batches = 512 steps
    assert steps == 512 and len(syncs) < steps / 4, (len(syncs), steps)


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_on_the_gpu_resumes_bitwise(runs_dir, precision):
    ref = learnsys.fit("mlp:64", runs_dir=runs_dir, run_id="ref", precision=precision, **KW)
    first = learnsys.fit("mlp:64", runs_dir=runs_dir, run_id="a", precision=precision, callbacks=[StopAt(117)], **KW)
    assert first.result.status == "stopped"
    learnsys.resume("a", runs_dir=runs_dir)
    got = learnsys.load_run("a", runs_dir=runs_dir)
    for k, v in ref.params().items():
        assert torch.equal(v, got.params()[k]), k
    assert ref.history() == got.history()


def test_nccl_ddp_with_one_process(tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--master-addr", "127.0.0.1",
           "--master-port", "29571", "-m", "learnsys", "train", "--data", "synthetic-linear", "--model", "mlp:32",
           "--batch-size", "64", "--epochs", "2", "--device", "cuda", "--no-ui", "--quiet", "--runs-dir", str(runs),
           "--run-id", "nccl"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = learnsys.load_run("nccl", runs_dir=runs)
    assert run.folder.meta()["world_size"] == 1 and run.record()["status"] == "finished"
    assert torch.distributed.is_nccl_available()
