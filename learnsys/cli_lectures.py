"""The command line of the lecture views: `search`, `landscape`, `graph`, `gradcheck`.

Thin verbs over search.py, landscape.py, graph.py and gradcheck.py; `cli.py` registers them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import LearnsysError
from .spec import parse_pairs

def add_parsers(sub, add_common) -> None:
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
    add_common(p)

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
    add_common(p)

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
    add_common(p)


def cmd_search(args: argparse.Namespace) -> int:
    import torch

    from . import search as S

    grid = S.parse_grid(args.grid, box=args.samples > 0)
    with _ProgressBar("searching", quiet=args.json) as on_progress:
        result = S.search(args.model, args.data, grid, samples=args.samples, init=parse_pairs("--init", args.init),
                          seed=args.seed, loss=args.loss, model_args=parse_pairs("--model-args", args.model_args),
                          data_args=parse_pairs("--data-args", args.data_args), target=args.target,
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
        graph = G.graph_for(args.model, args.x, args.y, init=parse_pairs("--init", args.init), seed=args.seed,
                            loss=args.loss, model_args=parse_pairs("--model-args", args.model_args))
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

    ds = load_data(args.data, data_args=parse_pairs("--data-args", args.data_args))
    if args.rows < 0:
        raise LearnsysError(f"--rows {args.rows} must be >= 0 (0: all rows).")
    x, y = (ds.x[:args.rows], ds.y[:args.rows]) if args.rows else (ds.x, ds.y)
    loss_name, loss_fn = loss_function(args.loss, args.model, ds.n_classes)
    torch.manual_seed(args.seed)
    model = build_model(args.model, ds.n_features, ds.n_classes if loss_name == "cross-entropy" else ds.y.shape[1],
                        parse_pairs("--model-args", args.model_args))
    apply_init(model, parse_pairs("--init", args.init))
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


COMMANDS = {"search": cmd_search, "graph": cmd_graph, "gradcheck": cmd_gradcheck, "landscape": cmd_landscape}
