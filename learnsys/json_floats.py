"""JSON has no NaN or Infinity: `finite_json(obj)` replaces every non-finite float by null.

Used wherever learnsys writes JSON that browsers or other tools read (artifacts, the
dashboard's answers, `--json` output). Plain Python, no torch: the dashboard imports it.
"""

from __future__ import annotations

import math


def finite_json(obj):
    """`obj` with every NaN/Inf float (also inside dicts, lists and tuples) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj
