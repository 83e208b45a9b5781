"""PNG pictures of the lecture views (matplotlib, Agg backend, no window).

    save_search_png(result.artifact(), "search.png")     # curve, heat map, or the best points
    save_landscape_png(artifact, "landscape.png")         # contour + the optimiser's path

Both take the JSON artifacts the run store keeps, so a picture can be drawn again later from
a stored run without recomputing anything.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import LearnsysError


def require_matplotlib() -> None:
    """One line naming the install when the `figures` extra is missing; called before any work."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise LearnsysError("--png needs matplotlib, which is not installed: run `pip install 'learnsys[figures]'` "
                            "(or `pip install matplotlib`), or leave out --png.") from None


def _pyplot():
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    except OSError as e:
        raise LearnsysError(f"Cannot write the PNG {path}: {e.strerror or e}. Choose a writable path for --png.") \
            from None
    finally:
        _pyplot().close(fig)


def _nan(v):
    return math.nan if v is None else v


def flat_value(losses: list) -> float | None:
    """The one value of a curve or surface (a list, or rows) whose every finite loss is the same,
    else None: drawn as one colour or a flat line, it is said in words beside the picture."""
    values = [v for row in losses for v in (row if isinstance(row, list) else [row])
              if v is not None and math.isfinite(v)]
    return values[0] if values and all(v == values[0] for v in values) else None


def _say_flat(ax, value: float, colour: str) -> None:
    ax.text(0.5, 0.06, f"constant: {value:.6g} everywhere", transform=ax.transAxes, ha="center",
            va="bottom", color=colour, bbox={"facecolor": "black" if colour == "white" else "white", "alpha": 0.5})


def save_search_png(art: dict, path: str | Path) -> None:
    """Lecture 2's MSE-vs-w curve (1 parameter), a heat map (2), or the best points (more)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    best = art["best"]["point"]
    loss = art.get("loss") or "loss"
    if art["kind"] == "curve":
        a = art["axes"][0]
        ax.plot(a["values"], [_nan(v) for v in art["losses"]], "-", lw=1.5)
        ax.plot([best[a["name"]]], [art["best"]["loss"]], "o", color="tab:red",
                label=f"best {a['name']} = {best[a['name']]:.4g}")
        ax.set_xlabel(a["name"])
        ax.set_ylabel(loss.upper() if loss == "mse" else loss)
        ax.legend()
    elif art["kind"] == "heatmap":
        a0, a1 = art["axes"]
        import numpy as np

        z = np.array([[_nan(v) for v in row] for row in art["losses"]], dtype=float)
        mesh = ax.pcolormesh(a1["values"], a0["values"], z, shading="nearest", cmap="viridis",
                             norm=_log_norm(z))
        fig.colorbar(mesh, ax=ax, label=loss)
        if np.isfinite(z).sum() > 3 and len(a0["values"]) > 1 and len(a1["values"]) > 1:
            ax.contour(a1["values"], a0["values"], z, levels=12, colors="white", linewidths=0.5, alpha=0.6)
        ax.plot([best[a1["name"]]], [best[a0["name"]]], "*", color="tab:red", ms=12, label="best")
        ax.set_xlabel(a1["name"])
        ax.set_ylabel(a0["name"])
        ax.legend(loc="upper right")
    else:
        names = art["params"]
        xs = [t["point"][names[0]] for t in art["top"]]
        ys = [t["point"][names[1]] for t in art["top"]] if len(names) > 1 else [t["loss"] for t in art["top"]]
        sc = ax.scatter(xs, ys, c=[t["loss"] for t in art["top"]], cmap="viridis_r")
        fig.colorbar(sc, ax=ax, label=loss)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1] if len(names) > 1 else loss)
        ax.set_title(f"the {len(xs)} best points")
    ax.set_title(f"{art.get('model')} on {art.get('data')}: exhaustive search")
    _save(fig, path)


def _log_norm(z):
    import numpy as np
    from matplotlib.colors import LogNorm

    finite = z[np.isfinite(z)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        return LogNorm(vmin=finite.min(), vmax=finite.max())
    return None


def save_landscape_png(art: dict, path: str | Path) -> None:
    """Contour of the loss surface (or the curve, for one scalar) with the path on it."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    path_xy = art.get("path") or {}
    if len(art["axes"]) == 1:
        a = art["axes"][0]
        ax.plot(a["values"], [_nan(v) for v in art["losses"]], "-", lw=1.5, label="loss")
        if path_xy.get("x"):
            ax.plot(path_xy["x"], [_nan(v) for v in path_xy["loss"]], ".-", color="tab:red", ms=3, lw=0.8,
                    label="path")
            ax.plot(path_xy["x"][-1:], [_nan(path_xy["loss"][-1])], "o", color="tab:red")
        value = flat_value(art["losses"])
        if value is not None:
            _say_flat(ax, value, "black")
        ax.set_xlabel(a["name"])
        ax.set_ylabel(art.get("loss") or "loss")
    else:
        a0, a1 = art["axes"]  # a0: x axis (columns), a1: y axis (rows)
        z = np.array([[_nan(v) for v in row] for row in art["losses"]], dtype=float)   # (n_y, n_x)
        finite = z[np.isfinite(z)]
        value = flat_value(art["losses"])
        if value is not None:  # a flat surface: one colour (contourf needs two levels), said in words
            spread = abs(value) / 2 or 1.0
            mesh = ax.pcolormesh(a0["values"], a1["values"], z, shading="nearest", cmap="viridis",
                                 vmin=value - spread, vmax=value + spread)
            fig.colorbar(mesh, ax=ax, label=art.get("loss") or "loss", format="%.4g")
            _say_flat(ax, value, "white")
        elif finite.size:
            lo, hi = finite.min(), finite.max()
            levels = np.geomspace(max(lo, hi * 1e-6, 1e-12), hi, 20) if lo > 0 and hi / max(lo, 1e-300) > 50 \
                else np.linspace(lo, hi, 20)
            cs = ax.contourf(a0["values"], a1["values"], z, levels=np.unique(levels), cmap="viridis",
                             extend="both")
            ax.contour(a0["values"], a1["values"], z, levels=np.unique(levels), colors="k", linewidths=0.3)
            fig.colorbar(cs, ax=ax, label=art.get("loss") or "loss", format="%.3g")
        if path_xy.get("x"):
            ax.plot(path_xy["x"], path_xy["y"], ".-", color="tab:red", ms=3, lw=0.8, label="path")
            ax.plot(path_xy["x"][:1], path_xy["y"][:1], "o", color="white", mec="k", label="start")
            ax.plot(path_xy["x"][-1:], path_xy["y"][-1:], "*", color="tab:red", ms=12, label="end")
        ax.set_xlabel(a0["label"] if "label" in a0 else a0["name"])
        ax.set_ylabel(a1["label"] if "label" in a1 else a1["name"])
    if path_xy.get("x"):
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(art.get("title") or "loss landscape")
    _save(fig, path)


def save_lr_find_png(art: dict, path: str | Path) -> None:
    """The LR range test: loss (raw and smoothed) against lr on a log axis, the suggestion marked.
    The artifact's `beta` is the running mean's weight (0.9); the legend gives lecture 3's β, the
    newest loss's weight (0.1), so that β means one thing on every picture."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(art["lrs"], art["losses"], color="#bbb", linewidth=0.8, label="loss")
    ax.plot(art["lrs"], art["smoothed"], color="#1f77b4", label=f"smoothed (lecture 3's β = {1 - art.get('beta', 0.9):.2g})")
    ax.axvline(art["suggestion"], color="#d62728", linestyle="--", label=f"suggested lr {art['suggestion']:.3g} "
                                                                          f"({art['rule']})")
    ax.set_xscale("log")
    finite = [v for v in art["smoothed"] if v is not None]
    if finite:
        ax.set_ylim(min(finite) * 0.9, max(finite[0], min(finite) * 4) * 1.1)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    _save(fig, path)
