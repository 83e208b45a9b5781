"""The command line: thin verbs over `learnsys.api`, domain errors become one line on stderr.

    learnsys train [--config run.toml] [--model poly:2 --lr 0.05 ...]   # no arguments: lecture 5
    learnsys resume RUN [--epochs 2000]
    learnsys predict RUN --x 4 5 [--json]
    learnsys runs [--json] | show RUN [--json] | metrics RUN --csv
    learnsys ui [--port P]

Every RunSpec field is a `train` flag (`--batch-size`, `--model-args activation=tanh`);
`docs/cli.md` lists every option and a test keeps it so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from . import __version__
from .errors import LearnsysError
from .spec import RunSpec

EXIT_USAGE = 2
_DICT_FIELDS = ("data_args", "model_args", "init", "optimizer_args", "scheduler_args")
_LIST_FIELDS = ("target",)


def _parse_value(text: str):
    """A flag value as TOML would read it (numbers, booleans, quoted strings), else the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _parse_pairs(flag: str, items: list[str]) -> dict:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise LearnsysError(f"{flag} takes key=value pairs, got {item!r}; e.g. {flag} momentum=0.9")
        out[key.strip()] = _parse_value(value.strip())
    return out


def add_spec_flags(parser: argparse.ArgumentParser,
                   title: str = "run spec (also settable in a --config TOML file)") -> None:
    """One flag per RunSpec field; only flags given on the command line override."""
    group = parser.add_argument_group(title)
    for name, help_text in RunSpec.field_help().items():
        flag = "--" + name.replace("_", "-")
        if isinstance(getattr(RunSpec, name, None), bool):  # `--async-checkpoint` alone means true
            group.add_argument(flag, dest=name, nargs="?", const="true", metavar="true|false",
                               default=argparse.SUPPRESS, help=help_text)
        elif name in _DICT_FIELDS:
            group.add_argument(flag, dest=name, nargs="+", metavar="KEY=VALUE", default=argparse.SUPPRESS,
                               help=help_text)
        elif name in _LIST_FIELDS:
            group.add_argument(flag, dest=name, nargs="+", metavar="COL", default=argparse.SUPPRESS, help=help_text)
        else:
            group.add_argument(flag, dest=name, metavar=name.upper(), default=argparse.SUPPRESS, help=help_text)


def spec_overrides(args: argparse.Namespace) -> dict:
    out = {}
    for name in RunSpec.field_names():
        if name not in vars(args):
            continue
        value = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if name in _DICT_FIELDS:
            out[name] = _parse_pairs(flag, value)
        elif name in _LIST_FIELDS:
            out[name] = list(value)
        elif name in ("data", "model", "loss", "optimizer", "scheduler", "scheduler_interval", "device",
                      "guard", "run_id"):
            out[name] = value
        else:
            out[name] = _parse_value(value)
    return out


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
    src.add_argument("--input", help="CSV file with the feature columns of the run's data (header row)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

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

    _add_lecture_verbs(sub)
    return parser


def _add_lecture_verbs(sub) -> None:
    """search, landscape, graph, gradcheck: the lecture views (docs/lectures.md)."""
    p = sub.add_parser("search", help="exhaustive grid search of the loss (lecture 2)")
    p.add_argument("--data", default="lecture", help="data set name or file (as for train; default: lecture)")
    p.add_argument("--model", default="linear-nobias", help="model name (as for train; default: linear-nobias)")
    p.add_argument("--grid", nargs="+", action="extend", required=True, metavar="NAME=GRID",
                   help="a parameter and its values: name=start:stop:step (stop included) or name=a,b,c")
    p.add_argument("--samples", type=int, default=0, help="evaluate N random points in the grid's box instead")
    p.add_argument("--init", nargs="+", metavar="NAME=VALUE", default=[],
                   help="values of parameters outside the grid (default: seeded initial values)")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed(seed) before the model is built")
    p.add_argument("--loss", default="auto", help="mse, mae, bce, cross-entropy or auto (as for train)")
    p.add_argument("--model-args", nargs="+", metavar="KEY=VALUE", default=[], help="keyword arguments of the model")
    p.add_argument("--data-args", nargs="+", metavar="KEY=VALUE", default=[], help="options of synthetic data")
    p.add_argument("--target", nargs="+", metavar="COL", default=None, help="CSV target column(s)")
    p.add_argument("--method", default="auto", help="auto, vmap, compiled or statistics (linear + mse only)")
    p.add_argument("--compile", action="store_true", help="evaluate with torch.compile (same as --method compiled)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"), help="precision of the evaluation")
    p.add_argument("--max-memory", type=float, default=256.0, metavar="MB",
                   help="memory for one vectorised chunk of grid points, in MB (default 256)")
    p.add_argument("--png", default=None, help="write a plot of the losses to this PNG file")
    p.add_argument("--top", type=int, default=10, help="how many best points to print (default 10)")
    p.add_argument("--no-store", action="store_true", help="do not store the search as a run")
    p.add_argument("--json", action="store_true", help="machine-readable output (the stored artifact)")
    _add_common(p)

    p = sub.add_parser("graph", help="the computational graph of one sample's loss, values and gradients (lecture 4)")
    p.add_argument("run", nargs="?", default=None, help="a trained run (then --sample picks the row)")
    p.add_argument("--sample", type=int, default=0, help="row of the run's train data (default 0)")
    p.add_argument("--model", default="poly:2", help="model name when no run is given (default poly:2)")
    p.add_argument("--x", nargs="+", type=float, default=[], help="the sample's feature value(s)")
    p.add_argument("--y", nargs="+", type=float, default=[], help="the sample's target value(s)")
    p.add_argument("--init", nargs="+", metavar="NAME=VALUE", default=[], help="parameter values, e.g. w1=1 w2=1 b=1")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed(seed) before the model is built")
    p.add_argument("--loss", default="auto", help="mse, mae, bce, cross-entropy or auto")
    p.add_argument("--model-args", nargs="+", metavar="KEY=VALUE", default=[], help="keyword arguments of the model")
    p.add_argument("--dot", default=None, help="also write the graph as Graphviz DOT to this file")
    p.add_argument("--json", action="store_true", help="machine-readable output (the graph artifact)")
    _add_common(p)

    p = sub.add_parser("gradcheck", help="autograd vs finite differences vs the closed form, per parameter")
    p.add_argument("--model", default="linear", help="model name (default linear)")
    p.add_argument("--data", default="lecture", help="data set name or file (default lecture)")
    p.add_argument("--rows", type=int, default=0, help="use the first N rows as the batch (default: all)")
    p.add_argument("--init", nargs="+", metavar="NAME=VALUE", default=[], help="parameter values")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed(seed) before the model is built")
    p.add_argument("--loss", default="auto", help="mse, mae, bce, cross-entropy or auto")
    p.add_argument("--model-args", nargs="+", metavar="KEY=VALUE", default=[], help="keyword arguments of the model")
    p.add_argument("--data-args", nargs="+", metavar="KEY=VALUE", default=[], help="options of synthetic data")
    p.add_argument("--eps", type=float, default=1e-6, help="finite-difference step (float64; default 1e-6)")
    p.add_argument("--max-checks", type=int, default=200, help="elements checked per parameter (default 200)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("landscape", help="the loss landscape of a trained run with the optimiser's path")
    p.add_argument("run", help="run id or run folder")
    p.add_argument("--resolution", type=int, default=51, help="grid points per axis (default 51)")
    p.add_argument("--threads", type=int, default=0, help="torch threads for the computation (default: all)")
    p.add_argument("--nice", type=int, default=0, help="lower this process's priority by N (0..19), e.g. beside a training")
    p.add_argument("--png", default=None, help="write a contour plot with the path to this PNG file")
    p.add_argument("--json", action="store_true", help="machine-readable output (the landscape artifact)")
    _add_common(p)


def _print_outcome(run) -> None:
    """What lecture 5 prints at the end: the parameters and predictions for x = 4 and 5."""
    result = run.result
    print(f"run {run.run_id} {result.status} at step {result.step}: {result.reason}  ({run.folder.path})")
    meta = run.folder.meta()
    if meta.get("scalar_names"):
        for name, value in run.params().items():
            values = value.reshape(-1).tolist()
            shown = repr(values[0]) if len(values) == 1 else ", ".join(map(repr, values))
            print(f"{name} = {shown}")
    if meta.get("n_features") == 1 and meta.get("loss") in ("mse", "mae"):
        for x, y in zip((4.0, 5.0), run.predict([[4.0], [5.0]]).tolist()):
            print(f"y_pred(x = {x}) = {', '.join(map(repr, y))}")
    if result.status == "stopped":
        print(f"resume with: learnsys resume {run.run_id} --runs-dir {run.folder.runs_dir}")


def _with_dashboard(args: argparse.Namespace, work):
    """Run `work()` with the dashboard serving the runs dir, if asked for; keep serving
    afterwards until Ctrl-C when stdin is a terminal."""
    if args.no_ui:
        return work()
    from .ui.launch import start_dashboard

    dashboard = start_dashboard(args.runs_dir, host=args.host, port=args.port, token=args.token)
    print(f"dashboard: {dashboard.url}", flush=True)
    try:
        result = work()
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
    _print_outcome(run)
    return run.exit_code


def cmd_resume(args: argparse.Namespace) -> int:
    from . import api

    changes = spec_overrides(args)  # api.resume refuses a changed field that would break exactness
    run = _with_dashboard(args, lambda: api.resume(args.run, runs_dir=args.runs_dir, changes=changes,
                                                   quiet=args.quiet, tensorboard=args.tensorboard))
    _print_outcome(run)
    return run.exit_code


def cmd_predict(args: argparse.Namespace) -> int:
    from . import api

    run = api.load_run(args.run, runs_dir=args.runs_dir)
    if args.x is not None:
        rows = run.rows_from_values(args.x)
    else:
        rows = run.rows_from_csv(args.input)
    preds = run.predictor().predict(rows)
    if args.json:
        print(json.dumps({"run": run.run_id, "inputs": rows, "predictions": preds}))
    else:
        for x, y in zip(rows, preds):
            print(f"x = {', '.join(repr(v) for v in x)}  ->  y = {', '.join(repr(v) for v in y) if isinstance(y, list) else y}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .store import RunStore, STORE_FILENAME

    path = Path(args.runs_dir) / STORE_FILENAME
    runs = RunStore(path, readonly=True).runs() if path.exists() else []
    if args.json:
        print(json.dumps([{k: r[k] for k in ("id", "kind", "data", "model", "step", "train_loss", "dev_loss",
                                                "status")} for r in runs]))
        return 0
    if not runs:
        print(f"No runs in {args.runs_dir}. Start one with `learnsys train`.")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "kind", "data", "model", "steps", "train loss", "dev loss", "status")
    fmt = lambda v: "" if v is None else f"{v:.6g}"  # noqa: E731
    for r in runs:
        table.add_row(r["id"], r["kind"], r["data"] or "", r["model"] or "", str(r["step"]), fmt(r["train_loss"]),
                      fmt(r["dev_loss"]), r["status"])
    Console().print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from . import api

    info = api.load_run(args.run, runs_dir=args.runs_dir).summary()
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
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


def cmd_search(args: argparse.Namespace) -> int:
    import torch

    from . import search as S

    grid = S.parse_grid(args.grid, box=args.samples > 0)
    with _ProgressBar("searching", quiet=args.json) as on_progress:
        result = S.search(args.model, args.data, grid, samples=args.samples, init=_parse_pairs("--init", args.init),
                          seed=args.seed, loss=args.loss, model_args=_parse_pairs("--model-args", args.model_args),
                          data_args=_parse_pairs("--data-args", args.data_args), target=args.target,
                          method="compiled" if args.compile else args.method, max_memory_mb=args.max_memory,
                          dtype=getattr(torch, args.dtype), on_progress=on_progress)
    artifact = result.artifact()
    run_id = None if args.no_store else S.store_search(result, args.runs_dir, spec={"grid": args.grid,
                                                                                    "samples": args.samples})
    if args.png:
        from .figures import save_search_png
        save_search_png(artifact, args.png)
    if args.json:
        print(json.dumps({"run": run_id, **artifact}))
        return 0
    print("\n".join(S.report_lines(result, args.top)))
    if run_id:
        print(f"stored as run {run_id} in {args.runs_dir}" + (f"; plot: {args.png}" if args.png else ""))
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from . import graph as G

    if args.run:
        from .store import RunStore
        from .trained import open_trained

        t = open_trained(args.run, args.runs_dir)
        if not 0 <= args.sample < t.x.shape[0]:
            raise LearnsysError(f"--sample {args.sample} is out of range: run {t.run_id} has {t.x.shape[0]} train "
                                f"rows (0..{t.x.shape[0] - 1}).")
        graph = G.capture(t.model, t.x[args.sample:args.sample + 1], t.y[args.sample:args.sample + 1], t.loss_fn)
        graph.update(run=t.run_id, sample_index=args.sample, step=t.step, model=t.spec.model, loss_name=t.loss_name)
        store = RunStore(t.store_path)
        store.put_artifact(t.run_id, "graph", graph)
        store.close()
    else:
        graph = G.graph_for(args.model, args.x, args.y, init=_parse_pairs("--init", args.init), seed=args.seed,
                            loss=args.loss, model_args=_parse_pairs("--model-args", args.model_args))
    if args.dot:
        try:
            Path(args.dot).write_text(G.to_dot(graph), encoding="utf-8")
        except OSError as e:
            raise LearnsysError(f"Cannot write {args.dot}: {e.strerror}. Choose a writable path for --dot.") from None
    if args.json:
        print(json.dumps(graph))
    else:
        print("\n".join(G.text_tree(graph)))
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    import torch

    from . import gradcheck as GC
    from .data import load_data
    from .models import apply_init, build_model
    from .search import loss_function

    ds = load_data(args.data, data_args=_parse_pairs("--data-args", args.data_args))
    if args.rows < 0:
        raise LearnsysError(f"--rows {args.rows} must be >= 0 (0: all rows).")
    x, y = (ds.x[:args.rows], ds.y[:args.rows]) if args.rows else (ds.x, ds.y)
    loss_name, loss_fn = loss_function(args.loss, args.model, ds.n_classes)
    torch.manual_seed(args.seed)
    model = build_model(args.model, ds.n_features, ds.n_classes if loss_name == "cross-entropy" else ds.y.shape[1],
                        _parse_pairs("--model-args", args.model_args))
    apply_init(model, _parse_pairs("--init", args.init))
    report = GC.gradcheck(model, x, y, loss_fn, loss_name=loss_name, eps=args.eps, max_checks=args.max_checks)
    print(json.dumps(report) if args.json else "\n".join(GC.report_lines(report)))
    return 0

def cmd_landscape(args: argparse.Namespace) -> int:
    from .landscape import landscape_of_run
    from .store import RunStore
    from .trained import open_trained

    if not 3 <= args.resolution <= 501:
        raise LearnsysError(f"--resolution {args.resolution} must be between 3 and 501 grid points per axis.")
    if args.nice:
        import os
        os.nice(max(0, min(19, args.nice)))
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    t = open_trained(args.run, args.runs_dir)
    with _ProgressBar("landscape", quiet=args.json) as on_progress:
        art = landscape_of_run(t, resolution=args.resolution, on_progress=on_progress)
    store = RunStore(t.store_path)
    store.put_artifact(t.run_id, "landscape", art)
    store.close()
    if args.png:
        from .figures import save_landscape_png
        save_landscape_png(art, args.png)
        if "pca" in art:
            save_landscape_png({**art["pca"], "loss": art["loss"]}, Path(args.png).with_name(
                Path(args.png).stem + "-pca" + Path(args.png).suffix))
    if args.json:
        print(json.dumps(art))
        return 0
    if art["kind"] == "exact":
        path = art["path"]
        print(f"exact landscape of {', '.join(art['params'])} on a {args.resolution}-point grid per axis; "
              f"path of {len(path['steps'])} points from step {path['steps'][0]} to {path['steps'][-1]}")
        names = art["params"]
        for label, i in (("start", 0), ("end", -1)):
            coords = ", ".join(f"{n} = {path[k][i]:.6g}" for n, k in zip(names, ("x", "y")))
            print(f"  {label}: {coords}  loss = {path['loss'][i]}")
    else:
        print(f"filter-normalised random plane ({args.resolution}x{args.resolution}) of {art['n_parameters']} "
              "parameters" + (f"; PCA plane of the path explains {100 * sum(art['pca']['explained']):.1f}% of its "
                              "variance" if "pca" in art else "; no snapshots for a PCA path (train with "
                              "the landscape recorder)"))
    print(f"stored as artifact 'landscape' of run {t.run_id}" + (f"; plot: {args.png}" if args.png else ""))
    return 0

class _ProgressBar:
    """A rich progress bar on stderr for long lecture-view computations; gives on_progress(done, total)."""

    def __init__(self, what: str, quiet: bool = False):
        self.what, self.quiet, self._bar, self._task = what, quiet, None, None

    def __enter__(self):
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.quiet or not sys.stderr.isatty():
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


COMMANDS = {"train": cmd_train, "resume": cmd_resume, "predict": cmd_predict, "runs": cmd_runs,
            "show": cmd_show, "metrics": cmd_metrics, "ui": cmd_ui}
COMMANDS.update({"search": cmd_search, "graph": cmd_graph, "gradcheck": cmd_gradcheck,
                 "landscape": cmd_landscape})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["train"]  # the main job: lecture 5's linear regression with the dashboard
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.verb](args)
    except LearnsysError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
