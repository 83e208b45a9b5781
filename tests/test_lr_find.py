"""The LR range test (issue 13): exponentially growing lr on a copy of the model, the stop rule,
a suggestion with its rule, and `train --lr auto` being the run with that lr."""

from __future__ import annotations

import json
import math
import sqlite3

import torch

import learnsys


def test_the_range_test_grows_lr_exponentially_stops_by_its_rule_and_suggests(runs_dir):
    r = learnsys.lr_find("mlp:16", "synthetic-linear", batch_size=32, runs_dir=runs_dir)
    ratios = [b / a for a, b in zip(r.lrs, r.lrs[1:])]
    assert max(ratios) / min(ratios) - 1 < 1e-9 and r.lrs[0] == 1e-7
    assert r.smoothed[-1] > 4 * min(r.smoothed) and "4x its minimum" in r.stopped
    assert r.lrs[0] < r.suggestion < r.lrs[r.smoothed.index(min(r.smoothed))] and r.rule == "steepest descent"
    con = sqlite3.connect(runs_dir / "learnsys.sqlite")
    kind, status = con.execute("SELECT kind, status FROM runs WHERE id = ?", (r.run_id,)).fetchone()
    art = json.loads(con.execute("SELECT data FROM artifacts WHERE run_id = ? AND name = 'lr_find'",
                                 (r.run_id,)).fetchone()[0])
    assert (kind, status) == ("lr-find", "finished") and art["suggestion"] == r.suggestion


def test_lr_auto_is_the_run_with_the_suggested_lr_and_records_the_test(runs_dir):
    auto = learnsys.fit("linear", "lecture", lr="auto", epochs=50, runs_dir=runs_dir, run_id="auto")
    found = learnsys.lr_find("linear", "lecture", store=False)
    assert auto.spec.lr == found.suggestion and math.isfinite(found.suggestion)
    given = learnsys.fit("linear", "lecture", lr=found.suggestion, epochs=50, runs_dir=runs_dir, run_id="given")
    for k, v in auto.params().items():
        assert torch.equal(v, given.params()[k]), k
    meta = json.loads((runs_dir / "auto" / "meta.json").read_text())
    assert meta["lr_find"] == {"suggestion": found.suggestion, "rule": found.rule}


def test_cli_lr_find_png_json_and_bad_input(cli, runs_dir, tmp_path):
    png = tmp_path / "lr.png"
    r = cli("lr-find", "--model", "mlp:8", "--data", "synthetic-linear", "--batch-size", "50", "--num-steps", "60",
            "--png", png, "--runs-dir", runs_dir)
    assert r.code == 0 and "suggested lr:" in r.out and png.stat().st_size > 5000, r.err
    art = json.loads(cli("lr-find", "--json", "--no-store", "--runs-dir", runs_dir).out)
    assert art["run"] is None and len(art["lrs"]) == len(art["smoothed"]) <= 100
    for args, words in ((["--lr-min", "1", "--lr-max", "0.1"], "0 < lr_min < lr_max"),
                        (["--num-steps", "2"], "num_steps")):
        r = cli("lr-find", "--runs-dir", runs_dir, *args)
        assert r.code == 2 and words in r.err and r.err.count("\n") == 1
    assert cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--epochs", "5", "--run-id", "t").code == 0
    r = cli("resume", "t", "--no-ui", "--runs-dir", runs_dir, "--lr", "auto")
    assert r.code == 2 and "lr auto" in r.err
