"""The command line of the lecture views: `search`, `landscape`, `graph`, `gradcheck`.

Thin verbs over search.py, landscape.py, graph.py and gradcheck.py; `learnsys/cli.py`
registers them. Their model and data flags are generated from the RunSpec, as `train`'s are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import LearnsysError
from ..spec import RunSpec
from ..spec_flags import MODEL_AND_DATA, add_spec_flags, spec_overrides

# Each verb's own starting values for the RunSpec fields it takes (the rest are the spec's).
SEARCH_DEFAULTS = {"model": "linear-nobias", "data": "lecture"}   # lecture 2: y = x·w on y = 2x
GRAPH_DEFAULTS = {"model": "poly:2"}           # lecture 4: y = w1·x² + w2·x + b
GRAPH_FIELDS = ("model", "model_args", "init", "loss", "seed")


def add_parsers(sub, add_common) -> None:
    """search, landscape, graph, gradcheck: the lecture views (docs/lectures.md). Their model and
    data flags are the RunSpec's, as `train` takes them (`spec_flags.py`)."""
    p = sub.add_parser("search", help="exhaustive grid search of the loss (lecture 2)")
    p.add_argument("--grid", nargs="+", action="extend", required=True, metavar="NAME=GRID",
                   help="a parameter and its values: name=start:stop:step (stop included) or name=a,b,c")
    p.add_argument("--samples", type=int, default=0, help="evaluate N random points in the grid's box instead")
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
    add_spec_flags(p, "the model and data searched (as for train)", fields=MODEL_AND_DATA, defaults=SEARCH_DEFAULTS)

    p = sub.add_parser("graph", help="the computational graph of one sample's loss, values and gradients (lecture 4)")
    p.add_argument("run", nargs="?", default=None, help="a trained run (then --sample picks the row)")
    p.add_argument("--sample", type=int, default=0, help="row of the run's train data (default 0)")
    p.add_argument("--x", nargs="+", type=float, default=[], help="the sample's feature value(s)")
    p.add_argument("--y", nargs="+", type=float, default=[], help="the sample's target value(s)")
    p.add_argument("--fused-loss", action="store_true",
                   help="draw the loss as one node (mse_loss) instead of the slides' r = ŷ − y, r², mean")
    p.add_argument("--dot", default=None, help="also write the graph as Graphviz DOT to this file")
    p.add_argument("--json", action="store_true", help="machine-readable output (the graph artifact)")
    add_common(p)
    add_spec_flags(p, "the model, when no run is given (as for train)", fields=GRAPH_FIELDS, defaults=GRAPH_DEFAULTS)

    p = sub.add_parser("gradcheck", help="autograd vs finite differences vs the closed form, per parameter")
    p.add_argument("--rows", type=int, default=0, help="use the first N rows as the batch (default: all)")
    p.add_argument("--eps", type=float, default=1e-6, help="finite-difference step (float64; default 1e-6)")
    p.add_argument("--max-checks", type=int, default=200, help="elements checked per parameter (default 200)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_spec_flags(p, "the model and data checked (as for train)", fields=MODEL_AND_DATA)

    p = sub.add_parser("landscape", help="the loss landscape of a trained run with the optimiser's path")
    p.add_argument("run", help="run id or run folder")
    p.add_argument("--params", nargs="+", default=[], metavar="NAME",
                   help="1 or 2 scalars for an exact surface over them, the others at their final values "
                        "(e.g. --params w1 w2 for poly:2); default: exact for 1-2 scalars, else planes")
    p.add_argument("--resolution", type=int, default=51, help="grid points per axis (default 51)")
    p.add_argument("--threads", type=int, default=0, help="torch threads for the computation (default: all)")
    p.add_argument("--nice", type=int, default=0, help="lower this process's priority by N (0..19), e.g. beside a training")
    p.add_argument("--png", default=None, help="write a contour plot with the path to this PNG file")
    p.add_argument("--json", action="store_true", help="machine-readable output (the landscape artifact)")
    add_common(p)


def _model_and_data(args: argparse.Namespace, defaults: dict) -> tuple[str, str, dict]:
    fields = spec_overrides(args, defaults)
    return fields.pop("model", "linear"), fields.pop("data", RunSpec.data), fields


def cmd_search(args: argparse.Namespace) -> int:
    import torch

    from . import search as S

    if args.png:
        from .figures import require_matplotlib
        require_matplotlib()
    grid = S.parse_grid(args.grid, box=args.samples > 0)
    model, data, fields = _model_and_data(args, SEARCH_DEFAULTS)
    with _ProgressBar("searching", quiet=args.json) as on_progress:
        result = S.search(model, data, grid, samples=args.samples, method="compiled" if args.compile else args.method,
                          max_memory_mb=args.max_memory, dtype=getattr(torch, args.dtype), on_progress=on_progress,
                          **fields)
    artifact = result.artifact()
    run_id = None if args.no_store else S.store_search(result, args.runs_dir, {"grid": args.grid,
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
        from ..store import RunStore
        from .trained import open_trained

        t = open_trained(args.run, args.runs_dir)
        if not 0 <= args.sample < t.x.shape[0]:
            raise LearnsysError(f"--sample {args.sample} is out of range: run {t.run_id} has {t.x.shape[0]} train "
                                f"rows (0..{t.x.shape[0] - 1}).")
        graph = G.capture(t.model, t.x[args.sample:args.sample + 1], t.y[args.sample:args.sample + 1], t.loss_fn,
                          loss_steps=not args.fused_loss)
        graph.update(run=t.run_id, sample_index=args.sample, step=t.step, model=t.spec.model, loss_name=t.loss_name)
        store = RunStore(t.store_path)
        store.put_artifact(t.run_id, "graph", graph)
        store.close()
    else:
        model, _, fields = _model_and_data(args, GRAPH_DEFAULTS)
        graph = G.graph_for(model, args.x, args.y, loss_steps=not args.fused_loss, **fields)
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
    from ..assembly import assemble, spec_and_objects
    from . import gradcheck as GC

    if args.rows < 0:
        raise LearnsysError(f"--rows {args.rows} must be >= 0 (0: all rows).")
    model, data, fields = _model_and_data(args, {})
    spec, _, _ = spec_and_objects(model, data, fields, where="flags")
    parts = assemble(spec)
    x, y = parts.train
    x, y = (x[:args.rows], y[:args.rows]) if args.rows else (x, y)
    report = GC.gradcheck(parts.model, x, y, parts.loss_fn, loss_name=parts.loss_name, eps=args.eps,
                          max_checks=args.max_checks)
    print(json.dumps(report) if args.json else "\n".join(GC.report_lines(report)))
    return 0


def cmd_landscape(args: argparse.Namespace) -> int:
    from ..store import RunStore
    from .landscape import landscape_of_run
    from .trained import open_trained

    if not 3 <= args.resolution <= 501:
        raise LearnsysError(f"--resolution {args.resolution} must be between 3 and 501 grid points per axis.")
    if args.png:
        from .figures import require_matplotlib
        require_matplotlib()
    if args.nice:
        import os
        os.nice(max(0, min(19, args.nice)))
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    t = open_trained(args.run, args.runs_dir)
    with _ProgressBar("landscape", quiet=args.json) as on_progress:
        art = landscape_of_run(t, resolution=args.resolution, on_progress=on_progress, params=args.params)
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
        if art.get("fixed"):
            print("  the others at their final values: " + ", ".join(f"{n} = {v:.6g}" for n, v in art["fixed"].items()))
    else:
        print(f"random plane ({args.resolution}x{args.resolution}) of {art['n_parameters']} parameters"
              + (f"; PCA plane of the path explains {100 * sum(art['pca']['explained']):.1f}% of its variance"
                 if "pca" in art else "; no snapshots for a PCA path (train with the landscape recorder)"))
        if art.get("scalars"):
            print(f"  for the exact loss over two of {', '.join(art['scalars'])}: learnsys landscape {t.run_id} "
                  f"--params {' '.join(art['scalars'][:2])}")
    from .figures import flat_value
    flat = flat_value(art["losses"])
    if flat is not None:
        print(f"  the loss is the same everywhere on this {'line' if len(art['axes']) == 1 else 'plane'}: "
              f"{flat:.6g} (it does not depend on these coordinates)")
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
