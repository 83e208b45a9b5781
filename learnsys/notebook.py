"""learnsys in a Jupyter notebook: the live dashboard inline, and a run as a small HTML summary.

    run = learnsys.fit("linear", "lecture5", dashboard="inline")   # the dashboard above the progress bar
    learnsys.show(run)                                            # the dashboard of a run, as an iframe
    run                                                           # status, steps, final metrics, a sparkline

The dashboard is the same server as `learnsys ui`, started once per runs dir in the
background (a child process of the notebook's kernel, gone with it) and embedded as an
iframe: the server allows framing from loopback origins only (127.0.0.1, localhost, [::1]).
In a notebook `fit` shows its progress bar by default (rich draws it live with ipywidgets).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from .errors import LearnsysError

_DASHBOARDS: dict[str, Any] = {}   # runs dir -> its running dashboard, for this kernel


def in_notebook() -> bool:
    """True inside a Jupyter kernel (not a terminal IPython, not plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def dashboard_for(runs_dir: str | Path) -> Any:
    """The dashboard serving `runs_dir`, started on first use and kept for the kernel's life."""
    from .ui.launch import start_dashboard

    key = str(Path(runs_dir).resolve())
    dash = _DASHBOARDS.get(key)
    if dash is None or dash.process.poll() is not None:
        dash = _DASHBOARDS[key] = start_dashboard(key)
    return dash


def show(run: Any = None, *, runs_dir: str | Path = "runs", height: int = 640):
    """An IFrame with the live dashboard (opened on `run`, a Run or a run id), for a notebook cell."""
    try:
        from IPython.display import IFrame
    except ImportError:
        raise LearnsysError("learnsys.show draws the dashboard in a notebook and needs IPython: pip install ipython "
                            "(or open the URL `learnsys ui` prints).") from None
    run_id = getattr(run, "run_id", run)
    if run is not None and hasattr(run, "folder"):
        runs_dir = run.folder.runs_dir
    url = dashboard_for(runs_dir).url + (f"#run={run_id}" if run_id else "")
    return IFrame(url, width="100%", height=height)


def _sparkline(values: list[float], width: int = 160, height: int = 32) -> str:
    """An inline SVG polyline of a series (at most ~width points, NaN left out)."""
    finite = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    if len(finite) < 2:
        return ""
    stride = max(1, len(finite) // width)
    points = finite[::stride] + ([finite[-1]] if (len(finite) - 1) % stride else [])
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    xy = " ".join(f"{i * width / (len(points) - 1):.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"
                  for i, v in enumerate(points))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="train/loss"><polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{xy}"/></svg>')


def run_html(run: Any) -> str:
    """The `_repr_html_` of a Run: a few lines a notebook shows when the cell's value is a run."""
    esc = html.escape
    try:
        rec = run.record()
        losses = run.metrics().get("train/loss", ([], []))[1]
    except LearnsysError as e:
        return f"<div><b>learnsys run {esc(run.run_id)}</b>: {esc(str(e))}</div>"
    fmt = lambda v: "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.6g}"  # noqa: E731
    total = f" of {rec['total_steps']}" if rec.get("total_steps") else ""
    rows = [("status", rec["status"]), ("steps", f"{rec['step']}{total}"), ("train loss", fmt(rec["train_loss"])),
            ("dev loss", fmt(rec["dev_loss"])), ("model", rec.get("model") or ""), ("data", rec.get("data") or "")]
    cells = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{esc(k)}</th><td>{esc(str(v))}</td></tr>"
                    for k, v in rows if v != "")
    return (f"<div><b>learnsys run {esc(run.run_id)}</b> <span>({esc(str(run.folder.path))})</span>"
            f"<table>{cells}</table>{_sparkline(list(losses))}</div>")
