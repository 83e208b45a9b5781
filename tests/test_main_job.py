"""The main job as a newcomer runs it: `learnsys` with no arguments trains lecture 5 on the
listing's data, serves the dashboard on 127.0.0.1, prints the listing's w, b and predictions;
without a terminal it exits with the run, in a terminal it keeps serving until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def _lecture5_listing() -> tuple[float, float, list[float]]:
    """Lecture 5's listing as the notes print it, after torch.manual_seed(0): w, b and y_test."""
    import torch

    torch.manual_seed(0)
    x_data = torch.tensor([[1.0], [2.0], [3.0]])
    y_data = torch.tensor([[1.98], [4.12], [5.95]])

    class LinearModel(torch.nn.Module):
        def __init__(self):
            super(LinearModel, self).__init__()
            self.linear = torch.nn.Linear(1, 1)

        def forward(self, x):
            return self.linear(x)

    model = LinearModel()
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(1000):
        loss = criterion(model(x_data), y_data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    y_test = model(torch.Tensor([[4.0], [5.0]]))
    return model.linear.weight.item(), model.linear.bias.item(), y_test.data[:, 0].tolist()


def test_no_arguments_without_a_terminal_trains_lecture5_and_exits(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "learnsys"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 0, proc.stderr
    url = re.search(r"dashboard: (http://127\.0\.0\.1:(\d+)/)", proc.stdout)
    assert url, proc.stdout  # 8765, or the next free port when something else holds it
    port = int(url.group(2))
    w, b, y_test = _lecture5_listing()  # the numbers the listing prints, run here after torch.manual_seed(0)
    assert f"\nw = {w!r}\nb = {b!r}\n" in proc.stdout
    assert f"y_pred(x = 4.0) = {y_test[0]!r}\ny_pred(x = 5.0) = {y_test[1]!r}" in proc.stdout
    assert (tmp_path / "runs" / "learnsys.sqlite").exists()
    with pytest.raises(OSError):  # the dashboard went away with the run
        _get(f"http://127.0.0.1:{port}/")


def test_in_a_terminal_the_dashboard_serves_until_ctrl_c(tmp_path):
    port = _free_port()
    main, child = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "learnsys", "train", "--epochs", "50", "--port", str(port)],
                            cwd=tmp_path, stdin=child, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(child)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "keeps serving until Ctrl-C" in line or not line:
                break
        assert any("keeps serving until Ctrl-C" in line for line in lines), lines
        assert any(line.startswith("w = ") for line in lines)  # the outcome comes first
        time.sleep(1.0)
        assert proc.poll() is None and _get(f"http://127.0.0.1:{port}/") == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/")
