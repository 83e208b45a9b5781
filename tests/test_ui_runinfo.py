"""The run fields the page needs beside a run's row (learnsys/ui/runinfo.py): train/dev rows,
steps per epoch and the number of processes (DDP) from the run folder's meta.json, a spec
brief in the run list; null where a folder does not say (missing or damaged meta.json),
never a 5xx."""

from __future__ import annotations

import json
import warnings

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx")
    from starlette.testclient import TestClient

from learnsys.ui.app import create_app

LECTURE3 = ["--model", "linear-nobias", "--data", "lecture", "--lr", "0.01", "--epochs", "4", "--no-ui", "--quiet"]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    import contextlib
    import io

    from learnsys.cli import main

    runs = tmp_path_factory.mktemp("runinfo") / "runs"
    args = [[*LECTURE3, "--batch-size", b, "--run-id", r] for r, b in
            (("gd", "full"), ("sgd", "1"), ("mb", "2"), ("missing", "1"), ("not json", "1"), ("a list", "1"), ("ddp", "1"))]
    args.append(["--data", "synthetic-linear", "--data-args", "size=50", "--dev", "0.2", "--batch-size", "16",
                 "--epochs", "1", "--no-ui", "--quiet", "--run-id", "dev"])
    for a in args:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["train", *[x.replace(" ", "-") for x in a], "--runs-dir", str(runs)]) == 0
    return runs


@pytest.fixture(scope="module")
def client(runs_dir):
    with TestClient(create_app(runs_dir), base_url="http://127.0.0.1:8765") as c:
        yield c


def test_steps_per_epoch_and_rows(client):
    # lecture data: 3 rows; full batch 1 step per epoch, SGD 3, batch 2 -> ceil(3/2) = 2
    got = {r: client.get(f"/api/runs/{r}").json() for r in ("gd", "sgd", "mb", "dev")}
    assert {r: (g["steps_per_epoch"], g["train_rows"], g["dev_rows"]) for r, g in got.items()} == {
        "gd": (1, 3, 0), "sgd": (3, 3, 0), "mb": (2, 3, 0), "dev": (3, 40, 10)}
    assert {r: g["total_steps"] / g["spec"]["epochs"] for r, g in got.items()} == {"gd": 1, "sgd": 3, "mb": 2, "dev": 3}
    assert "folder" not in got["gd"]


def test_run_list_has_a_brief_of_each_spec(client):
    rows = {r["id"]: r["brief"] for r in client.get("/api/runs").json()}
    assert rows["sgd"] == {"lr": 0.01, "batch_size": 1, "optimizer": "sgd", "epochs": 4, "steps": 0}
    assert rows["gd"]["batch_size"] == "full"


def test_world_size_from_meta(client, runs_dir):
    # one process: meta.json says world_size 1; under torchrun api.train writes the group's size
    assert client.get("/api/runs/gd").json()["world_size"] == 1
    meta_path = runs_dir / "ddp" / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    assert meta["world_size"] == 1
    meta_path.write_text(json.dumps({**meta, "world_size": 2}), encoding="utf-8")
    assert client.get("/api/runs/ddp").json()["world_size"] == 2
    meta_path.write_text(json.dumps({**meta, "world_size": "two"}), encoding="utf-8")
    assert client.get("/api/runs/ddp").json()["world_size"] is None


@pytest.mark.parametrize("damage", ["missing", "not json", "a list"])
def test_a_damaged_meta_json_gives_nulls(client, runs_dir, damage):
    run_id = damage.replace(" ", "-")
    meta = runs_dir / run_id / "meta.json"
    if damage == "missing":
        meta.unlink()
    else:
        meta.write_text("{not json" if damage == "not json" else "[1, 2]", encoding="utf-8")
    r = client.get(f"/api/runs/{run_id}")
    assert r.status_code == 200
    assert (r.json()["steps_per_epoch"], r.json()["train_rows"], r.json()["world_size"]) == (None, None, None)
    assert r.json()["samples_per_s"] is None


def test_samples_per_second_since_the_start(client):
    # 'dev': 40 train rows in 3 steps per epoch; 3 steps from the 'start' event to the last update
    got = client.get("/api/runs/dev").json()
    start = next(e for e in got["events"] if e["kind"] == "start")
    expected = (got["step"] - start["step"]) * 40 / 3 / (got["updated"] - start["time"])
    assert got["step"] == 3 and got["samples_per_s"] == pytest.approx(expected, rel=1e-12) and expected > 0


def test_samples_per_second_counts_from_the_last_resume():
    from learnsys.ui.runinfo import samples_per_second

    info = {"train_rows": 10, "steps_per_epoch": 4, "step": 30, "updated": 120.0}
    events = [{"kind": "start", "step": 0, "time": 100.0}, {"kind": "checkpoint", "step": 20, "time": 110.0},
              {"kind": "resume", "step": 20, "time": 115.0}]
    assert samples_per_second(info, events) == pytest.approx(10 * 10 / 4 / 5.0)   # 10 steps of 2.5 rows in 5 s
    assert samples_per_second({**info, "step": 20}, events) is None                # no step since the resume
    assert samples_per_second({**info, "updated": 115.0}, events) is None          # no time either
    assert samples_per_second({**info, "train_rows": None}, events) is None        # meta.json did not say
    assert samples_per_second(info, []) is None
