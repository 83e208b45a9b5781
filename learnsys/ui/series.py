"""Metric series for the dashboard: a cache of numpy arrays, min/max buckets, EWMA smoothing.

A long run has far more points than a chart has pixels. `buckets()` cuts a step range into
`width` equal buckets and keeps, from each, the point with the smallest and the one with the
largest value (and the first NaN, so a divergence still shows as a gap), plus the first and
last point of the range: every spike survives, and the line drawn from these points covers
the same pixels as the full series. When the range holds few enough points, all of them are
returned ("raw"), which is how zooming in reaches full resolution.

`ewm()` is the exponentially weighted mean of lecture 3, c'_0 = c_0,
c'_i = beta * c_i + (1 - beta) * c'_{i-1}, always computed on the raw points from the first
step of the run (never on the sampled ones), so a smoothed curve does not depend on the zoom.

`SeriesCache` keeps each series the server was asked for as two numpy arrays and, on the
next request, reads only the rows added since (by row id); it reloads a series when rows
were deleted: a resume drops the rows a dead process logged after its last checkpoint and
logs a 'resume' event, and a cached last step that is gone from the store means the same.
It forgets everything when the store file is replaced (`use_generation`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from ..store import RunStore

EWM_BLOCK = 128  # block length of the vectorised recurrence: one (K, L) @ (L, L) product


def ewm(values: np.ndarray, beta: float, prev: float | None = None) -> np.ndarray:
    """Exponentially weighted mean over the finite values; NaN/Inf positions stay NaN.

    `prev` continues a series: the smoothed value just before `values[0]` (None: start anew).

    Vectorised by blocks: inside a block of L points the recurrence is a lower-triangular
    matrix product; the carry from one block to the next is a scalar recurrence of K steps.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    c = values[finite]
    n = c.size
    if n == 0:
        return out
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"beta must be in (0, 1], got {beta}")
    a = 1.0 - beta
    L = EWM_BLOCK
    K = -(-n // L)
    padded = np.zeros(K * L)
    padded[:n] = c
    i = np.arange(L)
    lag = i[:, None] - i[None, :]                                  # (L, L): i - j
    with np.errstate(under="ignore"):
        m = np.where(lag >= 0, beta * a ** np.maximum(lag, 0), 0.0)  # (L, L) lower triangular
        decay = a ** (i + 1)                                       # (L,): weight of the carry-in
    local = padded.reshape(K, L) @ m.T                             # (K, L) @ (L, L): zero carry-in
    carry = np.empty(K)                                            # smoothed value before each block
    prev = c[0] if prev is None else prev                          # c'_0 = c_0  <=>  carry-in c_0
    for k in range(K):
        carry[k] = prev
        prev = local[k, -1] + decay[-1] * prev
    smooth = local + carry[:, None] * decay[None, :]               # (K, L)
    out[finite] = smooth.reshape(-1)[:n]
    return out


def buckets(steps: np.ndarray, values: np.ndarray, width: int) -> np.ndarray:
    """Indices (sorted) of the points to draw for a chart `width` pixels wide.

    All indices when there are at most 2 * width points; otherwise per bucket the argmin,
    the argmax and the first non-finite value, plus the first and the last index. Bucket b
    holds the points with b <= (step - first) * width / span < b + 1.

    The bucket edges are found by binary search (no per-point division), and when the
    buckets are about equally full (a run logs every step) each one is a row of a
    (buckets, longest) grid, so one argmin and one argmax over it do the work: a few passes
    over the values instead of a dozen (1,000,000 points in ~10 ms).
    """
    n = steps.size
    if n <= 2 * width:
        return np.arange(n)
    lo, hi = int(steps[0]), int(steps[-1])
    span = hi - lo + 1
    b = np.arange(width + 1, dtype=np.int64 if span * width < 2**62 else object)
    edges = (lo + (b * span + width - 1) // width).astype(np.int64)   # first step of each bucket
    bounds = np.unique(np.searchsorted(steps, edges, "left"))         # non-empty buckets' starts, then n
    starts, counts = bounds[:-1], np.diff(bounds)
    finite = np.isfinite(values)
    all_finite = bool(finite.all())
    longest = int(counts.max())
    picks = [np.array([0, n - 1])]
    if starts.size * longest <= 3 * n:
        # (B, longest): each bucket's indices, its last one repeated to fill the row (a
        # repeat is never the *first* smallest or largest, so it changes no pick).
        grid = starts[:, None] + np.minimum(np.arange(longest), counts[:, None] - 1)
        rows = np.arange(starts.size)
        for fill, best in ((np.inf, np.argmin), (-np.inf, np.argmax)):
            picked = grid[rows, best(values[grid] if all_finite else np.where(finite, values, fill)[grid], 1)]
            picks.append(picked if all_finite else picked[finite[picked]])  # a bucket without finite values: none
        if not all_finite:
            bad = np.flatnonzero(~finite)                          # first non-finite of each bucket
            bk = np.searchsorted(starts, bad, "right")
            picks.append(bad[np.r_[True, bk[1:] != bk[:-1]]])
    else:  # very uneven buckets (gaps in the steps): per-bucket reductions
        lowv = values if all_finite else np.where(finite, values, np.inf)
        highv = values if all_finite else np.where(finite, values, -np.inf)
        bucket = np.repeat(np.arange(starts.size), counts)
        mins = np.repeat(np.minimum.reduceat(lowv, starts), counts)
        maxs = np.repeat(np.maximum.reduceat(highv, starts), counts)
        for hit in (finite & (values == mins), finite & (values == maxs), ~finite):
            pos = np.flatnonzero(hit)                              # first hit of each bucket
            if pos.size:
                bk = bucket[pos]
                picks.append(pos[np.r_[True, bk[1:] != bk[:-1]]])
    return np.unique(np.concatenate(picks))


def _buckets_reference(steps: np.ndarray, values: np.ndarray, width: int) -> np.ndarray:
    """buckets(), one bucket at a time in plain Python: what the tests compare it with."""
    n = steps.size
    if n <= 2 * width:
        return np.arange(n)
    lo, span = int(steps[0]), int(steps[-1]) - int(steps[0]) + 1
    by_bucket: dict[int, list[int]] = {}
    for i, s in enumerate(steps.tolist()):
        by_bucket.setdefault((s - lo) * width // span, []).append(i)
    keep = {0, n - 1}
    for members in by_bucket.values():
        fin = [i for i in members if math.isfinite(values[i])]
        if fin:
            keep.add(min(fin, key=lambda i: (values[i], i)))
            keep.add(min(fin, key=lambda i: (-values[i], i)))
        nonfinite = [i for i in members if not math.isfinite(values[i])]
        if nonfinite:
            keep.add(nonfinite[0])
    return np.array(sorted(keep))


@dataclass
class _Entry:
    steps: np.ndarray
    values: np.ndarray
    upto_id: int                 # rows with id <= upto_id are in the arrays
    resumes: int                 # id of the run's newest 'resume' event when loaded
    smooth: dict = field(default_factory=dict)  # beta -> smoothed array (for the current arrays)


class SeriesCache:
    """Series as numpy arrays, kept up to date incrementally; safe to use from several threads."""

    def __init__(self, max_entries: int = 64):
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}  # one loader per series at a time
        self._max_entries = max_entries
        self._generation: int | None = None
        self._resumes: dict[str, tuple[int, int]] = {}  # run id -> (events read up to id, newest resume id)

    def use_generation(self, generation: int) -> None:
        """Forget every series when the store file was replaced (see reader.py): the same run
        id in a new file is another run."""
        with self._lock:
            if generation != self._generation:
                self._entries.clear()
                self._resumes.clear()
                self._generation = generation

    def get(self, store: RunStore, run_id: str, name: str) -> _Entry:
        key = (run_id, name)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # a second request for a series being loaded waits and then reuses it
            return self._get(store, key)

    def _get(self, store: RunStore, key: tuple[str, str]) -> _Entry:
        run_id, name = key
        with self._lock:
            entry = self._entries.get(key)
        resumes = self._newest_resume(store, run_id)
        upto = store.last_metric_id()
        if entry is not None and (resumes != entry.resumes or (
                entry.steps.size and not store.series(run_id, name, start=int(entry.steps[-1]))[0])):
            entry = None  # rows were deleted (resume): reload
        if entry is None:
            steps, values = store.series_arrays(run_id, name, upto_id=upto)   # binary chunks: no rows to convert
            entry = _Entry(steps, values, upto, resumes)
        elif upto > entry.upto_id:
            s, v = store.series_arrays(run_id, name, after_id=entry.upto_id, upto_id=upto)
            if s.size:
                steps, values = np.concatenate([entry.steps, s]), np.concatenate([entry.values, v])
                in_order = entry.steps.size == 0 or s[0] >= entry.steps[-1]
                smooth = {}
                if in_order:  # continue each smoothed curve from its last finite value
                    for beta, old in entry.smooth.items():
                        last = old[np.isfinite(old)]
                        smooth[beta] = np.concatenate([old, ewm(v, beta, last[-1] if last.size else None)])
                else:  # keep sorted by step
                    order = np.argsort(steps, kind="stable")
                    steps, values = steps[order], values[order]
                entry = _Entry(steps, values, upto, resumes, smooth)
            else:
                entry = _Entry(entry.steps, entry.values, upto, resumes, entry.smooth)
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = entry
        return entry

    def _newest_resume(self, store: RunStore, run_id: str) -> int:
        """The id of the run's newest 'resume' event, reading only the events added since the
        last call (a long run has thousands of checkpoint events)."""
        with self._lock:
            seen, newest = self._resumes.get(run_id, (0, 0))
        events = store.events(run_id, seen)
        if events:
            newest = max([newest] + [e["id"] for e in events if e["kind"] == "resume"])
            with self._lock:
                self._resumes[run_id] = (events[-1]["id"], newest)
        return newest

    def smoothed(self, entry: _Entry, beta: float) -> np.ndarray:
        cached = entry.smooth.get(beta)
        if cached is None:
            if len(entry.smooth) >= 8:  # a slider dragged around: keep the newest few
                entry.smooth.pop(next(iter(entry.smooth)))
            cached = entry.smooth[beta] = ewm(entry.values, beta)
        return cached

    def warm(self, store: RunStore, runs: int = 3, max_rows: int = 20_000_000,
             smooth: tuple[float, ...] = ()) -> None:
        """Load the newest runs' series (what the page shows first) until max_rows are held."""
        held = 0
        for run in store.runs()[:runs]:
            for name in store.metric_names(run["id"]):
                entry = self.get(store, run["id"], name)
                held += entry.steps.size
                if name == "train/loss":
                    for beta in smooth:
                        self.smoothed(entry, beta)
                if held >= max_rows:
                    return
