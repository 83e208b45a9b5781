"""The `export` verb: a trained run's model as safetensors, TorchScript, ONNX or a state dict.

    learnsys export RUN --format onnx [--out model.onnx] [--checkpoint best|last|STEP]

Thin over `learnsys.export.export_run`; `cli.py` registers it. docs/export.md says what each
format holds and how to load it back.
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub, add_common) -> None:
    p = sub.add_parser("export", help="write a trained run's model as safetensors, TorchScript, ONNX or a state dict")
    p.add_argument("run", help="run id or run folder")
    p.add_argument("--format", required=True, metavar="safetensors|torchscript|onnx|state-dict",
                   help="file format (docs/export.md)")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="file to write (default: <run folder>/exports/step-<N><ext>); replaced if it exists")
    p.add_argument("--checkpoint", default="last", metavar="best|last|STEP",
                   help="which checkpoint's weights (default: last, the newest good one)")
    p.add_argument("--proba", action="store_true", help="classifiers: the exported prediction gives probabilities "
                                                        "(as predict --proba), not class ids")
    p.add_argument("--json", action="store_true", help="machine-readable output: the path and what the file holds")
    add_common(p)


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_run

    path, info = export_run(args.run, args.format, args.out, checkpoint=args.checkpoint, runs_dir=args.runs_dir,
                            proba=args.proba)
    if args.json:
        print(json.dumps({"path": str(path), **info}))
        return 0
    inside = "standardised inside" if info["standardised_inside"] else "standardise them as the metadata says"
    print(f"exported run {info['run']} at step {info['step']} as {info['format']}: {path} "
          f"({path.stat().st_size:,} bytes; input (N, {', '.join(map(str, info['item_shape']))}) raw, {inside}; "
          f"output: {info['output']})")
    return 0
