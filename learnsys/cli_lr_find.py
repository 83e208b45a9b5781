"""`learnsys lr-find`: the learning-rate range test from the command line.

    learnsys lr-find --model mlp:64 --data digits --batch-size 64 [--lr-min 1e-7 --lr-max 10]
                     [--num-steps 100] [--png lr.png] [--json] [--no-store]

It takes the run-spec flags that describe the model, data, optimiser and batches (as `train`
does), trains a copy of the model with an exponentially growing lr (`train/lr_find.py`), and
prints the suggested lr with the rule that chose it. `train --lr auto` runs the same test first.
"""

from __future__ import annotations

import argparse
import json

from .json_floats import finite_json
from .spec import RunSpec
from .spec_flags import MODEL_AND_DATA, add_spec_flags, spec_overrides

FIELDS = (*MODEL_AND_DATA, "optimizer", "optimizer_args", "batch_size", "shuffle", "step", "device", "feed",
          "workers", "pin_memory")


def add_parser(sub, add_common) -> None:
    p = sub.add_parser("lr-find", help="the learning-rate range test: loss against an exponentially growing lr")
    p.add_argument("--lr-min", type=float, default=1e-7, help="the first lr (default 1e-7)")
    p.add_argument("--lr-max", type=float, default=10.0, help="the last lr (default 10)")
    p.add_argument("--num-steps", type=int, default=100, help="batches at most (default 100)")
    p.add_argument("--png", default=None, help="write the curve with the suggestion to this PNG file")
    p.add_argument("--no-store", action="store_true", help="do not store the test as a run")
    p.add_argument("--json", action="store_true", help="machine-readable output (the artifact)")
    add_common(p)
    add_spec_flags(p, "the model, data and optimiser (as for train)", fields=FIELDS)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from . import api

    fields = spec_overrides(args)
    model, data = fields.pop("model", RunSpec.model), fields.pop("data", RunSpec.data)
    result = api.lr_find(model, data, runs_dir=args.runs_dir, lr_min=args.lr_min, lr_max=args.lr_max,
                         num_steps=args.num_steps, store=not args.no_store, **fields)
    art = result.artifact()
    if args.png:
        from .lectures.figures import save_lr_find_png
        save_lr_find_png(art, args.png)
    if args.json:
        print(json.dumps(finite_json({"run": result.run_id or None, **art})))
        return 0
    print(f"suggested lr: {result.suggestion:.3g} ({result.rule} of the smoothed loss); {result.stopped}")
    print(f"  train with it: learnsys train ... --lr {result.suggestion:.3g}   (or --lr auto)")
    if result.run_id:
        print(f"stored as run {result.run_id} in {args.runs_dir}" + (f"; plot: {args.png}" if args.png else ""))
    return 0
