"""`learnsys runs` and `learnsys show RUN`: the run listing and one run's summary, as text
(a table that fits the terminal, the spec one field a line, the parameters) or `--json`.
The parsers are in cli.py; this module only prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .json_floats import finite_json


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
    if all(r["kind"] == "train" for r in runs):  # one kind says nothing: its room goes to data and model
        names, rows = names[:1] + names[2:], [row[:1] + row[2:] for row in rows]
    room = Console().width
    widths = _runs_widths(names, rows, room)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, width in zip(names, widths):
        table.add_column(name, width=width, no_wrap=name not in LOSSES, overflow="ellipsis",
                         justify="right" if name == "steps" or name in LOSSES else "left")
    for row in rows:
        table.add_row(*row)
    Console(width=max(room, sum(widths) + 2 * (len(widths) - 1))).print(table)
    return 0


LOSSES = ("train loss", "dev loss")    # `runs` wraps these headers first when the terminal is narrow
FLEXIBLE = ("kind", "data", "model")   # then narrows these; `show RUN` has them whole


def _runs_widths(names: tuple, rows: list[tuple], room: int) -> list[int]:
    """Column widths for `runs`: the id, steps, losses and status are never cut (the id is what
    the other verbs take). When the terminal is too narrow, the loss headers take two lines
    first, then kind, data and model give way, down to 4 characters each; wider than the
    terminal only when even that does not fit."""
    from rich.cells import cell_len  # a CJK character takes two columns (a data file named 数据.csv)

    content = [max(cell_len(row[i]) for row in rows) for i in range(len(names))]
    widths = [max(c, len(name)) for c, name in zip(content, names)]
    floors = [max(c, *(len(w) for w in name.split())) if name in LOSSES else
              min(w, 4) if name in FLEXIBLE else w for c, name, w in zip(content, names, widths)]
    excess = sum(widths) + 2 * (len(widths) - 1) - room
    for group in (LOSSES, FLEXIBLE):
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
