"""Server-sent events: new metric rows, the run's status and its events, as they land.

One stream per run (`GET /api/runs/{id}/stream`). The server polls the store every 50 ms
(a query over the newest row ids: well under a millisecond) and sends

    id: <last metric row id in the batch>
    event: metrics
    data: {"rows": [[id, name, step, value], ...]}

so a browser that reconnects sends `Last-Event-ID` and gets exactly the rows it missed
(`?last_id=N` does the same for a new connection).

With `?thin=1` (the page asks for it) a series that gets more than THIN_ROWS rows in one
poll (over 1,280 steps a second) is thinned, in that message only, to its first, smallest,
largest and last row and its first NaN, and the message lists it under "thinned": a chart
cannot show more, and the page then fetches the exact buckets and smoothing from the series
endpoint. The backlog sent right after connecting (a replay) is never thinned. `event: run` carries status/step
changes and `event: events` the run's events (checkpoint, resume, divergence, ...); these
have no `id:` so they never move the replay position. A comment line every 15 s keeps
proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import AsyncIterator, Callable

from ..store import RunStore

POLL_S = 0.05           # while the run is running: the page sees a row at most ~50 ms after commit
IDLE_POLL_S = 0.5       # runs not running that sent no rows for ACTIVE_S
ACTIVE_S = 5.0
HEARTBEAT_S = 15.0
BATCH_ROWS = 5000       # rows per message when catching up
THIN_ROWS = 64          # rows of one series in one poll above which a thinning stream samples them
RETRY_MS = 1000         # how soon a browser reconnects


def _num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def finite_json(obj):
    """`obj` with every NaN/Inf float replaced by None: browsers' JSON.parse rejects NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def thin(rows: list) -> tuple[list, list[str]]:
    """Rows (id order) with each series of more than THIN_ROWS rows cut to its first,
    smallest, largest and last row and its first NaN; and the names of those series."""
    by_name: dict[str, list] = {}
    for row in rows:
        by_name.setdefault(row[1], []).append(row)
    keep, thinned = [], []
    for name, rs in by_name.items():
        if len(rs) <= THIN_ROWS:
            keep += rs
            continue
        thinned.append(name)
        finite = [i for i, r in enumerate(rs) if math.isfinite(r[3])]
        picks = {0, len(rs) - 1}
        if finite:
            picks |= {min(finite, key=lambda i: rs[i][3]), max(finite, key=lambda i: rs[i][3])}
        if len(finite) < len(rs):
            picks.add(next(i for i, r in enumerate(rs) if not math.isfinite(r[3])))
        keep += [rs[i] for i in picks]
    keep.sort(key=lambda r: r[0])
    return keep, thinned


def sse(data: dict, event: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def run_stream(get_store: Callable[[], RunStore | None], run_id: str, last_id: int,
                     thinning: bool = False) -> AsyncIterator[bytes]:
    """Yield SSE messages for one run forever (the server cancels it when the client goes)."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    last_event = 0
    last_run: tuple | None = None
    last_beat = last_rows = time.monotonic()
    backlog = True  # until a poll comes back short: the replay, sent whole

    def poll(last_id: int, last_event: int):
        store = get_store()  # this worker thread's own connection
        if store is None:
            return None
        return (store.metric_rows(run_id, last_id, limit=BATCH_ROWS), store.events(run_id, last_event),
                _status(store, run_id))

    while True:
        # In a worker thread: a long catch-up query must not hold up the other streams.
        polled = await asyncio.to_thread(poll, last_id, last_event)
        running = True
        if polled is not None:
            rows, events, info = polled
            if rows:
                last_id = rows[-1][0]
                sent, thinned = thin(rows) if thinning and not backlog else (rows, [])
                message = {"rows": [[i, n, s, _num(v)] for i, n, s, v in sent]}
                if thinned:
                    message["thinned"] = thinned
                yield sse(message, "metrics", last_id)
                last_beat = last_rows = time.monotonic()
            backlog = backlog and len(rows) == BATCH_ROWS
            if events:
                last_event = events[-1]["id"]
                yield sse({"events": finite_json(events)}, "events")
            if info is not None:
                running = info[0] == "running"
                if info != last_run:
                    last_run = info
                    yield sse({"status": info[0], "step": info[1], "epoch": info[2], "message": info[3]}, "run")
            if len(rows) == BATCH_ROWS:
                continue  # catching up: no sleep
        if time.monotonic() - last_beat > HEARTBEAT_S:
            last_beat = time.monotonic()
            yield b": ping\n\n"
        # A run's status can lag its rows (or say 'interrupted' for a writer without a pid
        # file), so recent rows keep the fast pace too.
        active = running or time.monotonic() - last_rows < ACTIVE_S
        await asyncio.sleep(POLL_S if active else IDLE_POLL_S)


def _status(store: RunStore, run_id: str) -> tuple | None:
    try:
        r = store.run(run_id)
    except Exception:
        return None
    return (r["status"], r["step"], r["epoch"], r["message"])
