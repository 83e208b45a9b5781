"""Every bad input gets one clear line on stderr (what, where, what to do), exit status 2, no
traceback, and leaves no run folder behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_cli_process


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _no_run_folders(runs_dir: Path) -> bool:
    return not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.is_dir()]


def _one_error_line(result) -> str:
    assert result.code == 2, (result.code, result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and "Traceback" not in result.err
    return lines[0]


CASES = {
    # name: (extra args (tmp_path -> list), words the line must contain)
    "missing data file": (lambda t: ["--data", str(t / "nope.csv")], ["nope.csv", "does not exist", "--data"]),
    "unreadable data file": (lambda t: ["--data", str((t / "dir.csv").mkdir() or t / "dir.csv")],
                             ["Cannot read data file", "dir.csv"]),
    "data file not UTF-8": (lambda t: ["--data", str((t / "latin.csv").write_bytes(b"x,y\n1,\xe9\n") and t / "latin.csv")],
                            ["latin.csv", "not UTF-8", "0xe9", "offset 6", "CSV UTF-8"]),
    "non-numeric cell": (lambda t: ["--data", str(_csv(t, "x,y\n1,2\n2,abc\n"))],
                         ["line 3", "column 'y'", "'abc'", "not a number"]),
    "missing target column": (lambda t: ["--data", str(_csv(t, "x,y\n1,2\n")), "--target", "z"],
                              ["no target column 'z'", "x, y", "--target"]),
    "empty file": (lambda t: ["--data", str(_csv(t, ""))], ["is empty"]),
    "header only": (lambda t: ["--data", str(_csv(t, "x,y\n"))], ["no data rows"]),
    "NaN in data": (lambda t: ["--data", str(_csv(t, "x,y\n1,2\nnan,4\n"))], ["'x'", "nan", "row 2"]),
    "inf in data": (lambda t: ["--data", str(_csv(t, "x,y\n1,2\n2,inf\n"))], ["'y'", "inf", "row 2"]),
    "unknown data set": (lambda t: ["--data", "mnist"], ["Unknown data set 'mnist'", "lecture", "iris"]),
    "feature count mismatch": (lambda t: ["--data", str(_csv(t, "a,b,y\n1,2,3\n")), "--model",
                                          f"{_csv(t, 'import torch' + chr(10) + 'class Net(torch.nn.Module):' + chr(10) + '    def __init__(self):' + chr(10) + '        super().__init__(); self.l = torch.nn.Linear(5, 1)' + chr(10) + '    def forward(self, x):' + chr(10) + '        return self.l(x)' + chr(10), 'net.py')}:Net"],
                               ["cannot take the data's 2 feature(s)"]),
    "unknown model": (lambda t: ["--model", "transformer"], ["Unknown model 'transformer'", "linear", "poly:K"]),
    "bad poly degree": (lambda t: ["--model", "poly:x"], ["poly:x", "positive integers"]),
    "unknown optimizer": (lambda t: ["--optimizer", "adamz"], ["Unknown optimizer 'adamz'", "adam", "sgd"]),
    "bad optimizer args": (lambda t: ["--optimizer-args", "momentun=0.9"], ["SGD", "momentun"]),
    "unknown loss": (lambda t: ["--loss", "hinge"], ["Unknown loss 'hinge'", "mse", "cross-entropy"]),
    "unknown scheduler": (lambda t: ["--scheduler", "Warp"], ["Unknown scheduler 'Warp'", "StepLR"]),
    "lr zero": (lambda t: ["--lr", "0"], ["Invalid learning rate", "lr = 0.0", "> 0"]),
    "lr negative": (lambda t: ["--lr", "-0.1"], ["Invalid learning rate", "-0.1"]),
    "lr not a number": (lambda t: ["--lr", "fast"], ["lr = 'fast'", "not a number"]),
    "epochs zero": (lambda t: ["--epochs", "0"], ["epochs = 0", "must be from 1 to"]),
    "epochs too many": (lambda t: ["--epochs", "99999999999999999999999"], ["epochs = ", "must be from 1 to"]),
    "seed too large": (lambda t: ["--seed", "99999999999999999999"], ["seed = ", "must be from 0 to 4,294,967,295"]),
    "batch size zero": (lambda t: ["--batch-size", "0"], ["batch_size = 0", "'full', 1 (SGD)"]),
    "batch size word": (lambda t: ["--batch-size", "half"], ["batch_size = 'half'"]),
    "dev out of range": (lambda t: ["--dev", "1.5"], ["dev = 1.5", "0 <= dev < 1"]),
    "malformed toml": (lambda t: ["--config", str(_csv(t, "lr = = 3\n", "bad.toml"))], ["bad.toml", "not valid TOML"]),
    "unknown toml key": (lambda t: ["--config", str(_csv(t, "lrr = 0.1\n", "typo.toml"))],
                         ["unknown key 'lrr'", "typo.toml", "did you mean 'lr'"]),
    "missing config file": (lambda t: ["--config", str(t / "none.toml")], ["none.toml", "--config"]),
    "user module path missing": (lambda t: ["--model", f"{t}/missing.py:Net"], ["missing.py does not exist"]),
    "user class not a module": (lambda t: ["--model", f"{_csv(t, 'class Net: pass' + chr(10), 'plain.py')}:Net"],
                                ["plain.py:Net is not an nn.Module"]),
    "user class missing": (lambda t: ["--model", f"{_csv(t, 'x = 1' + chr(10), 'empty.py')}:Net"],
                           ["has no 'Net'"]),
    "bad init name": (lambda t: ["--init", "q=1"], ["init names unknown parameter", "linear.weight"]),
    "bad key=value": (lambda t: ["--model-args", "activation"], ["--model-args takes key=value pairs"]),
    "cross-entropy on float labels": (lambda t: ["--data", "lecture2", "--loss", "cross-entropy"],
                                      ["needs class ids", "2.02"]),
    "bad run id": (lambda t: ["--run-id", "../escape"], ["run_id = '../escape'"]),
    # refused up front, not at step 1 (issue 12)
    "lbfgs needs a closure": (lambda t: ["--optimizer", "lbfgs"], ["LBFGS needs a closure"]),
    "sparseadam needs sparse gradients": (lambda t: ["--optimizer", "sparseadam"], ["SparseAdam needs sparse"]),
    "StepLR step_size 0": (lambda t: ["--scheduler", "StepLR", "--scheduler-args", "step_size=0"],
                           ["StepLR step_size = 0", ">= 1"]),
    "OneCycleLR too short": (lambda t: ["--scheduler", "OneCycleLR", "--scheduler-args", "max_lr=0.1", "total_steps=10",
                                        "--scheduler-interval", "step", "--epochs", "50"],
                             ["OneCycleLR total_steps = 10", "shorter than the run's 50"]),
    "plateau per step": (lambda t: ["--scheduler", "ReduceLROnPlateau", "--scheduler-interval", "step"],
                         ["ReduceLROnPlateau steps on a metric once per epoch"]),
    "early stop on a missing dev set": (lambda t: ["--early-stop", "dev/loss:5"], ["no dev set", "--dev"]),
    "early stop malformed": (lambda t: ["--early-stop", "dev/loss"], ["METRIC:PATIENCE"]),
    "keep best of accuracy on regression": (lambda t: ["--keep-best", "dev/accuracy", "--dev", "0.3", "--data",
                                                       "synthetic-linear"], ["not a classifier"]),
    "clip norm negative": (lambda t: ["--clip-grad-norm", "-1"], ["clip_grad_norm = -1.0", ">= 0"]),
    "unknown precision": (lambda t: ["--precision", "fp8"], ["precision = 'fp8'"]),
    "shuffle word": (lambda t: ["--shuffle", "sometimes"], ["shuffle = 'sometimes'", "true, false or torch"]),
    "classes one": (lambda t: ["--classes", "1"], ["classes = 1", "from 2"]),
    "workers negative": (lambda t: ["--workers", "-2"], ["workers = -2", "from 0 to 256"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_train_input_gives_one_line_and_no_run_folder(case, cli, tmp_path, runs_dir):
    make_args, words = CASES[case]
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, *make_args(tmp_path))
    line = _one_error_line(result)
    for word in words:
        assert word in line, (word, line)
    assert _no_run_folders(runs_dir)


def test_runs_dir_that_is_not_writable(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    line = _one_error_line(cli("train", "--no-ui", "--quiet", "--runs-dir", blocker / "runs"))
    assert "runs dir" in line and "--runs-dir" in line


def test_unknown_run_id_for_every_verb(cli, runs_dir):
    for verb in (["predict", "nope", "--x", "1"], ["show", "nope"], ["metrics", "nope"], ["resume", "nope", "--no-ui"]):
        line = _one_error_line(cli(*verb, "--runs-dir", runs_dir))
        assert "No run 'nope'" in line and "learnsys runs" in line


def test_run_id_with_path_traversal_is_refused(cli, runs_dir):
    line = _one_error_line(cli("show", "..", "--runs-dir", runs_dir))
    assert "No run" in line or "Invalid run id" in line


def test_predict_checks_the_feature_count_and_values(cli, runs_dir):
    assert cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--epochs", "3").code == 0
    run_id = [p.name for p in runs_dir.iterdir() if p.is_dir()][0]
    line = _one_error_line(cli("predict", run_id, "--input", runs_dir / "none.csv", "--runs-dir", runs_dir))
    assert "none.csv does not exist" in line
    line = _one_error_line(cli("predict", run_id, "--x", "nan", "--runs-dir", runs_dir))
    assert "finite number" in line


def test_batch_larger_than_the_data_is_a_warning_and_full_batch(cli, runs_dir):
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--batch-size", "10", "--epochs", "5")
    assert result.code == 0
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "larger than the 3 train rows" in warnings[0]
    assert "at step 5" in result.out  # one full batch per epoch


def test_a_real_process_prints_no_traceback(tmp_path):
    result = run_cli_process("train", "--no-ui", "--quiet", "--runs-dir", tmp_path / "runs", "--lr", "-1")
    line = _one_error_line(result)
    assert "Invalid learning rate" in line
    assert not (tmp_path / "runs").exists()


def test_a_sink_failing_mid_run_is_one_line_and_a_failed_run(cli, runs_dir, monkeypatch):
    from learnsys.sinks.logfile import LogFileSink
    from learnsys.store import RunStore

    def full_disk(self, trainer, logs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LogFileSink, "on_epoch_end", full_disk, raising=False)
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--epochs", "5")
    assert result.code == 1 and "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines == ["error: Callback LogFileSink failed in on_epoch_end: OSError: [Errno 28] No space left on device"]
    (run,) = RunStore(runs_dir / "learnsys.sqlite").runs()
    assert run["status"] == "failed" and "No space left" in run["message"]


def test_a_full_disk_under_the_store_mid_run_says_resume(cli, runs_dir, monkeypatch):
    import sqlite3

    from learnsys.store import RunStore
    from learnsys.store.schema import store_error

    real, calls = RunStore.append_series, []

    def fills_up(self, run_id, series):
        calls.append(run_id)
        if len(calls) > 1:  # the first rows land, then the disk is full
            raise store_error(self.path, sqlite3.OperationalError("database or disk is full"))
        return real(self, run_id, series)

    monkeypatch.setattr(RunStore, "append_series", fills_up)
    args = ("--run-id", "full", "--epochs", "600", "--checkpoint-every", "100", "--checkpoint-seconds", "0",
            "--no-ui", "--quiet", "--runs-dir", runs_dir)
    result = cli("train", *args)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 1 and len(lines) == 1 and "Traceback" not in result.err, result.err
    assert lines[0].startswith("error: Run full stopped after step ") and lines[0].endswith(
        f": the disk holding the run store {runs_dir / 'learnsys.sqlite'} is full. Free some space, then "
        "`learnsys resume full` continues it from its last checkpoint."), lines
    monkeypatch.setattr(RunStore, "append_series", real)  # space freed
    resumed = cli("resume", "full", "--no-ui", "--quiet", "--runs-dir", runs_dir)
    assert resumed.code == 0 and "finished at step 600" in resumed.out, resumed.err
