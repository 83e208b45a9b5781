"""The command line: thin verbs over `learnsys.api`, domain errors become one line on stderr.

    learnsys train [--config run.toml] [--model poly:2 --lr 0.05 ...]   # no arguments: lecture 5
    learnsys resume RUN [--epochs 2000]
    learnsys predict RUN --x 4 5 [--json] [--checkpoint best|last|STEP]
    learnsys export RUN --format safetensors|torchscript|onnx|state-dict     # cli_export.py
    learnsys runs [--json] | show RUN [--json] | metrics RUN --csv
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

from . import __version__, cli_doctor, cli_export, cli_lr_find
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


def cmd_runs(args: argparse.Namespace) -> int:
    from .store import STORE_FILENAME, RunStore

    store = RunStore(Path(args.runs_dir) / STORE_FILENAME, readonly=True)  # no store file yet: no runs
    runs, unlisted = store.runs(), store.unlisted_folders()
    if unlisted:
        print(f"note: {len(unlisted)} run folder(s) in {args.runs_dir} are not in the store ({', '.join(unlisted[:5])}"
              f"); `learnsys doctor --runs-dir {args.runs_dir}` adds them.", file=sys.stderr)
    if args.json:
        print(json.dumps(finite_json([{k: r[k] for k in ("id", "kind", "data", "model", "step", "train_loss",
                                                          "dev_loss", "status")} for r in runs])))
        return 0
    if not runs:
        print(f"No runs in {args.runs_dir}. Start one with `learnsys train`.")
        return 0
    from rich.console import Console
    from rich.table import Table

    fmt = lambda v: "" if v is None else f"{v:.4g}"  # noqa: E731  (`show` has the exact values)
    names = ("id", "kind", "data", "model", "steps", "train loss", "dev loss", "status")
    rows = [(r["id"], r["kind"], r["data"] or "", r["model"] or "", str(r["step"]), fmt(r["train_loss"]),
             fmt(r["dev_loss"]), r["status"]) for r in runs]
    widths = _runs_widths(names, rows, Console().width)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, width in zip(names, widths):
        table.add_column(name, width=width, no_wrap=name != "train loss" and name != "dev loss", overflow="ellipsis",
                         justify="right" if name in ("steps", "train loss", "dev loss") else "left")
    for row in rows:
        table.add_row(*row)
    Console(width=max(Console().width, sum(widths) + 2 * (len(widths) - 1))).print(table)
    return 0


FLEXIBLE = ("kind", "data", "model")   # `runs` narrows these first; `show RUN` has them whole


def _runs_widths(names: tuple, rows: list[tuple], room: int) -> list[int]:
    """Column widths for `runs`: the id, steps, losses and status are never cut (the id is what
    the other verbs take). When the terminal is too narrow, the loss headers take two lines
    first, then kind, data and model give way, down to 4 characters each; wider than the
    terminal only when even that does not fit."""
    content = [max(len(row[i]) for row in rows) for i in range(len(names))]
    widths = [max(c, len(name)) for c, name in zip(content, names)]
    floors = [max(c, *(len(w) for w in name.split())) if name in ("train loss", "dev loss") else
              min(w, 4) if name in FLEXIBLE else w for c, name, w in zip(content, names, widths)]
    excess = sum(widths) + 2 * (len(widths) - 1) - room
    for group in (("train loss", "dev loss"), FLEXIBLE):
        while excess > 0:
            shrinkable = [i for i, name in enumerate(names) if name in group and widths[i] > floors[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    return widths


def cmd_show(args: argparse.Namespace) -> int:
    from . import api

    run = api.load_run(args.run, runs_dir=args.runs_dir)
    info = run.summary()
    meta = run.folder.meta()
    if meta.get("dev_rows"):  # which rows of the data set the seeded split held out
        info["dev_indices"] = meta.get("dev_indices")
    if args.json:
        print(json.dumps(finite_json(info)))
        return 0
    confusion = info.pop("confusion", None)
    for key, value in info.items():
        if key == "params":
            _print_params(value)
            continue
        if key == "spec" and isinstance(value, dict):
            _print_spec(value, run.folder.path / "spec.toml")
            continue
        if key == "dev_indices":
            n_rows = meta["dev_rows"] + meta.get("train_rows", 0)
            value = (f"{', '.join(map(str, value))} ({meta['dev_rows']} of the data set's {n_rows} rows, 0-based; "
                     "the others are the train rows)") if value is not None else \
                f"{meta['dev_rows']} of {n_rows} rows (too many to list; data.split_indices gives them)"
        print(f"{key}: {value}")
    if confusion:
        matrix = confusion["rows_true_columns_predicted"]
        width = max(len(str(v)) for row in matrix for v in row) + 1
        print(f"dev confusion matrix at step {confusion['step']} (rows: true class, columns: predicted):")
        print("      " + "".join(f"{j:>{width}}" for j in range(len(matrix))))
        for i, row in enumerate(matrix):
            print(f"  {i:>3} " + "".join(f"{v:>{width}}" for v in row))
        if confusion.get("classes"):
            print("classes: " + ", ".join(f"{i} {name}" for i, name in enumerate(confusion["classes"])))
    return 0


SHOWN_VALUES = 64   # `show` writes out at most this many parameter values; --json gives all
SPEC_ALWAYS = ("data", "model", "loss", "optimizer", "lr", "epochs", "batch_size")   # what every run is


def _print_spec(spec: dict, path: Path) -> None:
    """The fields that say what the run is, and every field that is not its default, one per
    line as `key = value` (JSON values, as in a config); the whole spec is the run's spec.toml."""
    from .spec import RunSpec

    defaults = RunSpec().to_dict()
    print(f"spec (what the run is, and every field that is not its default; all of it: {path}):")
    for key, value in spec.items():
        if key != "run_id" and (key in SPEC_ALWAYS or key not in defaults or value != defaults[key]):
            print(f"  {key} = {json.dumps(value, ensure_ascii=False, default=str)}")


def _print_params(params: dict) -> None:
    """One line per tensor with its exact values (repr) for small models, as the lectures print
    `w` and `b`; for larger ones each tensor's shape, and where the values are."""
    import numpy as np

    shapes = {name: np.shape(value) for name, value in params.items()}
    total = sum(int(np.prod(s)) for s in shapes.values())
    if total <= SHOWN_VALUES:
        print("params:")
        for name, value in params.items():
            print(f"  {name} = {value!r}")
        return
    listed = ", ".join(f"{name} {'×'.join(map(str, s)) or 'scalar'}" for name, s in shapes.items())
    print(f"params: {total:,} values in {len(params)} tensors ({listed}); `learnsys show RUN --json` or "
          "Run.params() gives them exactly")


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


COMMANDS = {"train": cmd_train, "resume": cmd_resume, "predict": cmd_predict, "runs": cmd_runs,
            "show": cmd_show, "metrics": cmd_metrics, "ui": cmd_ui}
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
