"""The command line: thin verbs over `learnsys.api`, domain errors become one line on stderr.

    learnsys train [--config run.toml] [--model poly:2 --lr 0.05 ...]   # no arguments: lecture 5
    learnsys resume RUN [--epochs 2000]
    learnsys predict RUN --x 4 5 [--json] [--checkpoint best|last|STEP]
    learnsys export RUN --format safetensors|torchscript|onnx|state-dict     # cli_export.py
    learnsys runs [--json] | show RUN [--json] | metrics RUN --csv      # runs, show: cli_show.py
    learnsys ui [--port P]
    learnsys search | landscape | graph | gradcheck        # the lecture views: lectures/cli.py

Every RunSpec field is a `train` flag (`--batch-size`, `--model-args activation=tanh`);
`docs/cli.md` lists every option and a test keeps it so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__, cli_doctor, cli_export, cli_lr_find, cli_show
from .errors import EXIT_USAGE, LearnsysError
from .json_floats import finite_json
from .lectures import cli as lecture_cli
from .spec import RunSpec
from .spec_flags import add_spec_flags, spec_overrides


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", default="runs", help="folder holding run folders and learnsys.sqlite (default: ./runs)")


def _add_ui_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-ui", action="store_true", help="do not start the dashboard")
    p.add_argument("--port", type=int, default=None, help="dashboard port (default: 8765, or the next free one)")
    p.add_argument("--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1; others need a token)")
    p.add_argument("--token", default=None, help="access token for the dashboard (generated when --host is not loopback)")
    p.add_argument("--quiet", action="store_true", help="no progress bar; only the final lines")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write TensorBoard event files to DIR/<run-id> (needs the tensorboard package)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="learnsys", description="A learning system on PyTorch: "
                                     "data set -> model -> training -> inference, with a live dashboard and exact resume.")
    parser.add_argument("--version", action="version", version=f"learnsys {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("train", help="train a model (no arguments: lecture 5's linear regression)")
    p.add_argument("--config", help="a TOML file with RunSpec keys; flags override it")
    _add_common(p)
    _add_ui_flags(p)
    add_spec_flags(p)

    p = sub.add_parser("resume", help="continue a stopped or killed run from its last good checkpoint")
    p.add_argument("run", help="run id (a folder under --runs-dir) or a run folder path")
    _add_common(p)
    _add_ui_flags(p)
    add_spec_flags(p, "changes on resume: --epochs/--steps (extend), --lr, --checkpoint-every, --keep-checkpoints, "
                      "--pace, --async-checkpoint; any other field must keep the run's value (docs/resume.md)")

    p = sub.add_parser("predict", help="predictions of a trained run")
    p.add_argument("run", help="run id or run folder")
    _add_common(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--x", nargs="+", type=float, help="input values (one feature: one value per row)")
    src.add_argument("--input", help="a CSV file with the run's feature columns (header row), or a .npz / .pt "
                                     "file holding an array x shaped like the training inputs (N, ...)")
    p.add_argument("--proba", action="store_true", help="classifiers: class probabilities instead of class ids")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--checkpoint", default="last", metavar="best|last|STEP",
                   help="which checkpoint's weights (default: last, the newest good one)")

    p = sub.add_parser("runs", help="list the runs in the store")
    _add_common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("show", help="a run's spec, status, step, final metrics and parameters")
    p.add_argument("run", help="run id or run folder")
    _add_common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("metrics", help="a run's whole metric history")
    p.add_argument("run", help="run id or run folder")
    _add_common(p)
    p.add_argument("--csv", action="store_true", help="CSV: step,name,value (the default output too)")

    p = sub.add_parser("ui", help="serve the dashboard for every run in the store, until Ctrl-C")
    _add_common(p)
    p.add_argument("--port", type=int, default=None, help="port (default: 8765, or the next free one)")
    p.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1; others need a token)")
    p.add_argument("--token", default=None, help="access token (generated when --host is not loopback)")

    lecture_cli.add_parsers(sub, _add_common)
    cli_lr_find.add_parser(sub, _add_common)
    cli_export.add_parser(sub, _add_common)
    cli_doctor.add_parser(sub, _add_common)
    return parser


def _print_outcome(run) -> None:
    """What lecture 5 prints at the end: the parameters and predictions for x = 4 and 5."""
    result = run.result
    print(f"run {run.run_id} {result.status} at step {result.step}: {result.reason}  ({run.folder.path})")
    if result.status == "diverged":  # lecture 3: the learning rate is too high
        lr = min(run.spec.lr / 10, 0.01)
        print(f"the loss blew up: the learning rate is too high (lecture 3). Try a smaller --lr, e.g. {lr:g}, or "
              f"`learnsys lr-find` to find one; `learnsys resume {run.run_id} --lr {lr:g}` continues from the last "
              "good checkpoint", file=sys.stderr)
        return
    meta = run.folder.meta()
    if meta.get("scalar_names"):
        from .models import LINEAR_SHORT_NAMES

        short = {long: s for s, long in LINEAR_SHORT_NAMES if s in meta["scalar_names"]}  # lecture 5's w and b
        for name, value in run.params().items():
            values = value.reshape(-1).tolist()
            shown = repr(values[0]) if len(values) == 1 else ", ".join(map(repr, values))
            print(f"{short.get(name, name)} = {shown}")
    if meta.get("n_features") == 1 and meta.get("loss") in ("mse", "mae"):
        for x, y in zip((4.0, 5.0), run.predict([[4.0], [5.0]]).tolist()):
            print(f"y_pred(x = {x}) = {', '.join(map(repr, y))}")
    if result.status == "stopped":
        print(f"resume with: learnsys resume {run.run_id} --runs-dir {run.folder.runs_dir}")


def _with_dashboard(args: argparse.Namespace, work):
    """Run `work()` (a training) with the dashboard serving the runs dir, if asked for, and
    print its outcome; keep serving afterwards until Ctrl-C when stdin is a terminal. Under
    torchrun only rank 0 serves and prints (docs/distributed.md)."""
    if os.environ.get("RANK", "0") != "0":  # another rank of a distributed run: it trains, rank 0 reports
        return work()
    if args.no_ui:
        result = work()
        _print_outcome(result)
        return result
    from .ui.launch import start_dashboard

    dashboard = start_dashboard(args.runs_dir, host=args.host, port=args.port, token=args.token)
    print(f"dashboard: {dashboard.url}", flush=True)
    try:
        result = work()
        _print_outcome(result)
        if sys.stdin.isatty():
            print("training done; the dashboard keeps serving until Ctrl-C", flush=True)
            dashboard.wait()
        return result
    finally:
        dashboard.close()


def cmd_train(args: argparse.Namespace) -> int:
    from . import api

    overrides = spec_overrides(args)
    spec = RunSpec.from_toml(args.config, overrides) if args.config else RunSpec.from_dict(overrides, where="flags")
    run = _with_dashboard(args, lambda: api.train(spec, runs_dir=args.runs_dir, quiet=args.quiet,
                                                  tensorboard=args.tensorboard))
    return run.exit_code


def cmd_resume(args: argparse.Namespace) -> int:
    from . import api

    changes = spec_overrides(args)  # api.resume refuses a changed field that would break exactness
    run = _with_dashboard(args, lambda: api.resume(args.run, runs_dir=args.runs_dir, changes=changes,
                                                   quiet=args.quiet, tensorboard=args.tensorboard))
    return run.exit_code


def rows_from_values(values: list[float], n_features: int) -> list[list[float]]:
    """`--x 1 2 3 4` as rows of the model's features (one feature: one value per row)."""
    if len(values) % n_features:
        raise LearnsysError(f"--x got {len(values)} value(s), not a multiple of the model's {n_features} features.")
    return [list(values[i:i + n_features]) for i in range(0, len(values), n_features)]


def rows_from_csv(path: str, feature_names: list[str]) -> list[list[float]]:
    """The run's feature columns of a CSV file (`--input`), as written (float64), in the run's order."""
    from .data import read_csv

    p = Path(path)
    if not p.is_file():
        raise LearnsysError(f"Input file {p} does not exist. Check the path given to --input.")
    header, values = read_csv(p)
    missing = [f for f in feature_names if f not in header]
    if missing:
        raise LearnsysError(f"Input file {p} lacks feature column(s) {', '.join(missing)}; it has "
                            f"{', '.join(header)}.")
    return values[:, [header.index(f) for f in feature_names]].tolist()


def inputs_from_file(path: str) -> Any:
    """`--input x.npz` (an array `x`, any shape) or `x.pt` (a saved tensor, or a dict with `x`)."""
    import numpy as np
    import torch

    p = Path(path)
    if not p.is_file():
        raise LearnsysError(f"Input file {p} does not exist. Check the path given to --input.")
    try:
        if p.suffix.lower() == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return torch.from_numpy(z["x"] if "x" in z.files else z[z.files[0]])
        obj = torch.load(p, weights_only=True, map_location="cpu")
    except Exception as e:
        raise LearnsysError(f"Cannot read input file {p}: {str(e).splitlines()[0][:200]}.") from None
    return obj["x"] if isinstance(obj, dict) and "x" in obj else obj


def cmd_predict(args: argparse.Namespace) -> int:
    from . import api

    run = api.load_run(args.run, runs_dir=args.runs_dir)
    predictor = run.predictor(checkpoint=args.checkpoint)
    meta = predictor.meta
    if args.x is not None:
        inputs = rows_from_values(args.x, meta["n_features"])
    elif Path(args.input).suffix.lower() in (".npz", ".pt"):
        inputs = inputs_from_file(args.input)
    else:
        inputs = rows_from_csv(args.input, meta["feature_names"])
    preds = predictor.predict(inputs, proba=args.proba)
    if not isinstance(preds, list):  # a tensor of inputs from a file
        inputs, preds = inputs.reshape(inputs.shape[0], -1).tolist(), preds.cpu().tolist()
    if args.json:
        print(json.dumps(finite_json({"run": run.run_id, "inputs": inputs, "predictions": preds})))
        return 0
    for x, y in zip(inputs, preds):
        shown_x = ", ".join(repr(v) for v in x[:8]) + (", ..." if len(x) > 8 else "")
        shown_y = ", ".join(repr(v) for v in y) if isinstance(y, list) else repr(y)
        print(f"x = {shown_x}  ->  y = {shown_y}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from . import api

    run = api.load_run(args.run, runs_dir=args.runs_dir)
    out = sys.stdout
    out.write("step,name,value\n")
    for step, name, value in run.history():
        out.write(f"{step},{name},{value!r}\n")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from .ui.launch import serve

    return serve(args.runs_dir, host=args.host, port=args.port, token=args.token)


COMMANDS = {"train": cmd_train, "resume": cmd_resume, "predict": cmd_predict, "runs": cli_show.cmd_runs,
            "show": cli_show.cmd_show, "metrics": cmd_metrics, "ui": cmd_ui}
COMMANDS.update(lecture_cli.COMMANDS)
COMMANDS["lr-find"] = cli_lr_find.cmd_lr_find
COMMANDS["export"] = cli_export.cmd_export
COMMANDS.update(cli_doctor.COMMANDS)


class _WarningLines(logging.Handler):
    """The `learnsys` logger's warnings as `warning: ...` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"warning: {record.getMessage()}", file=sys.stderr)


def _print_warnings() -> None:
    logger = logging.getLogger("learnsys")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        logger.addHandler(_WarningLines(logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["train"]  # the main job: lecture 5's linear regression with the dashboard
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    _print_warnings()
    try:
        return COMMANDS[args.verb](args)
    except LearnsysError as e:  # exit 2: the input is wrong; exit 1: a failure while running (errors.py)
        print(f"error: {' '.join(str(e.args[0]).split())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
