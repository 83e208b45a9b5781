"""The kill harness on the open core (issue 9): SIGKILL at seeded-random steps, then resume;
the end must equal the uninterrupted run bit for bit (every state tensor, `metrics --csv` row
for row), for three kinds of run:

- a user's Dataset with random augmentation in __getitem__, on the DataLoader path with 2 workers;
- a CNN on digits images with cross-entropy, Adam and ReduceLROnPlateau on the dev loss;
- a user step function (--step file.py:fn) with dropout in the model.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from learnsys.train.checkpoint import read_verified

from .resume_checks import STATE_PARTS, assert_bitwise
from .test_resume_kill import start, store_step, wait_for

USER_CODE = '''import torch
from torch import nn


class Noisy(torch.utils.data.Dataset):
    """Rows made in __getitem__ with torch-random augmentation: exact only if workers are seeded."""

    def __init__(self, n=192):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [1.5]])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + 0.05 * torch.randn(4), self.y[i]


def noisy():
    return Noisy()


class DropNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


def step(model, batch):
    x, y = batch
    return nn.functional.smooth_l1_loss(model(x), y)
'''

# --pace 100 keeps each run above a second: the store learns a step up to 0.1 s (a flush) late, and
# an unpaced run of 144 tiny steps can end before a kill aimed at step 130 lands. Pacing only sleeps,
# so it changes nothing the run computes.
COMMON = ["--checkpoint-every", "20", "--checkpoint-seconds", "0", "--keep-checkpoints", "2", "--seed", "5",
          "--pace", "100"]
MARGIN = 30  # steps (0.3 s at --pace 100) between the last kill target and the end of the run


def configs(code: Path) -> dict[str, tuple[list[str], int]]:
    return {  # name: (spec flags, total steps)
        "loader-workers": (["--data", f"{code}:noisy", "--workers", "2", "--model", "mlp:16", "--batch-size", "16",
                            "--optimizer", "adam", "--lr", "0.01", "--epochs", "12"], 12 * 12),
        "cnn-plateau": (["--data", "digits-images", "--dev", "0.2", "--model", "cnn:8,16", "--batch-size", "128",
                         "--optimizer", "adam", "--lr", "0.01", "--scheduler", "ReduceLROnPlateau",
                         "--scheduler-args", "patience=0", "factor=0.5", "--epochs", "10"], 10 * 12),
        "step-function": (["--data", "synthetic-linear", "--data-args", "size=240", "--model", f"{code}:DropNet",
                           "--step", f"{code}:step", "--batch-size", "20", "--lr", "0.05", "--epochs", "12"], 12 * 12),
    }


def _final(runs: Path, run_id: str, total: int) -> dict:
    return read_verified(runs / run_id / "checkpoints" / f"step-{total:08d}.pt")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["loader-workers", "cnn-plateau", "step-function"])
def test_kill_and_resume_is_bitwise_on_the_open_core(tmp_path, cli, name):
    code = tmp_path / "user_code.py"
    code.write_text(USER_CODE)
    spec, total = configs(code)[name]
    spec = [*spec, *COMMON]
    runs = tmp_path / "runs"
    reference = start(runs, "train", *spec, "--run-id", "reference")
    rng = random.Random(sum(map(ord, name)))  # seeded: str hash() differs per process
    for i, target in enumerate(sorted(rng.sample(range(3, total - MARGIN), 4))):
        args = ("train", *spec, "--run-id", "victim") if i == 0 else ("resume", "victim")
        since = time.time()
        proc = start(runs, *args)
        assert wait_for(lambda: store_step(runs, "victim", since) >= target, proc, f"step {target}"), \
            proc.communicate()
        time.sleep(rng.uniform(0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the process ended by itself before the kill"
    out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    last = start(runs, "resume", "victim")
    out, err = last.communicate(timeout=300)
    assert last.returncode == 0 and f"finished at step {total}" in out, err
    a, b = _final(runs, "reference", total), _final(runs, "victim", total)
    for part in STATE_PARTS:
        assert_bitwise(a[part], b[part], part)
    ma, mb = cli("metrics", "reference", "--csv", "--runs-dir", runs), cli("metrics", "victim", "--csv", "--runs-dir", runs)
    assert ma.out.splitlines() == mb.out.splitlines() and len(ma.out.splitlines()) > total
