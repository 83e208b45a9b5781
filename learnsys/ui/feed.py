"""Server-sent events: one client's stream of a run's new metric rows, status and events.

`GET /api/runs/{id}/stream` yields, for as long as the client stays,

    id: <last metric row id in the batch>
    event: metrics
    data: {"rows": [[id, name, step, value], ...]}

so a browser that reconnects sends `Last-Event-ID` and gets exactly the rows it missed
(`?last_id=N` does the same for a new connection). The rows come from the run's shared
RunFeed (fanout.py): every client of a run is served from one read of the store per poll.

With `?thin=1` (the page asks for it) a series with more than THIN_ROWS rows in one message
(over 1,280 steps a second at the 50 ms poll) is cut, in that message only, to its first,
smallest, largest and last row and its first NaN, and the message lists it under
"thinned": a chart cannot show more, and the page then fetches the exact buckets and
smoothing from the series endpoint. A client that falls behind (a slow connection) gets all
it missed as one thinned message, so it catches up instead of queueing. The replay right
after connecting is sent whole, never thinned.

Other events (no `id:`, so they never move the replay position): `event: run` (status/step
changes), `event: events` (checkpoint, resume, divergence, ...), `event: store`
({"ok": false, "error": "one line"} while the store cannot be read, {"ok": true} after),
and `event: reset` when the store file was replaced (the runs dir deleted and made again):
the page should load the run afresh; the stream then ends. A comment line every 15 s keeps
proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
from typing import AsyncIterator

from ..json_floats import finite_json
from ..store import StoreError
from .fanout import BATCH_ROWS, THIN_ROWS, FeedHub, RunFeed, thin
from .reader import StoreUnavailable

HEARTBEAT_S = 15.0
RETRY_MS = 1000         # how soon a browser reconnects

__all__ = ["BATCH_ROWS", "THIN_ROWS", "run_stream", "sse", "thin"]


def _num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def sse(data: dict, event: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def metrics_message(rows: list, thinned: list[str], last_id: int) -> bytes:
    message = {"rows": [[i, n, s, _num(v)] for i, n, s, v in rows]}
    if thinned:
        message["thinned"] = thinned
    return sse(message, "metrics", last_id)


def _merged(batches: list, position: int, thinning: bool) -> bytes:
    """Several batches (a client behind), or one that starts before `position`, as messages."""
    if not thinning:
        parts = []
        for b in batches:
            if b.after >= position:
                parts.append(b.message(False, metrics_message))
            else:
                rows = [r for r in b.rows if r[0] > position]
                if rows:
                    parts.append(metrics_message(rows, [], b.upto))
        return b"".join(parts)
    rows, names = [], []
    for b in batches:  # each batch's thinned rows hold its extremes; thinning them again keeps the union's
        kept, thinned = b.thinned() if b.after >= position else thin([r for r in b.rows if r[0] > position])
        rows += kept
        names += [n for n in thinned if n not in names]
    rows, again = thin(rows)
    names += [n for n in again if n not in names]
    return metrics_message(rows, names, batches[-1].upto)


async def run_stream(hub: FeedHub, run_id: str, last_id: int, thinning: bool = False) -> AsyncIterator[bytes]:
    """Yield SSE messages for one client of `run_id` until it goes (the server then cancels this)."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    feed = hub.join(run_id)
    try:
        async for chunk in _follow(hub, feed, last_id, thinning):
            yield chunk
    finally:
        hub.leave(feed)


async def _follow(hub: FeedHub, feed: RunFeed, position: int, thinning: bool) -> AsyncIterator[bytes]:
    seen = -1
    sent_events = 0
    sent_status: tuple | None = None
    sent_problem: str | None = None
    replaying = True  # until this client has caught up with the feed: the replay is never thinned
    last_beat = time.monotonic()
    behind = False
    while True:
        if not behind:
            await feed.wait(seen, HEARTBEAT_S)
        seen = feed.version
        out: list[bytes] = []
        if feed.replaced:
            yield sse({"reason": "The run store file was replaced; load the run again."}, "reset")
            return
        if feed.problem != sent_problem:
            sent_problem = feed.problem
            out.append(sse({"ok": False, "error": feed.problem} if feed.problem else {"ok": True}, "store"))
        behind = False
        if feed.start is not None and feed.problem is None:
            if position < feed.held_from():  # the replay, or far behind: this client reads the store itself
                upto = feed.upto
                rows = await _read(hub, feed.run_id, position)
                if rows is None:
                    behind = False
                else:
                    if rows:
                        sent, names = thin(rows) if thinning and not replaying else (rows, [])
                        out.append(metrics_message(sent, names, rows[-1][0]))
                    position = rows[-1][0] if len(rows) == BATCH_ROWS else max(position, upto,
                                                                               rows[-1][0] if rows else 0)
                    behind = position < feed.upto
            else:
                replaying = False
                pending = feed.pending(position)
                if len(pending) == 1 and pending[0].after >= position:
                    out.append(pending[0].message(thinning, metrics_message))
                elif pending:
                    out.append(_merged(pending, position, thinning))
                if pending:
                    position = pending[-1].upto
        if len(feed.events) > sent_events:
            out.append(sse({"events": finite_json(feed.events[sent_events:])}, "events"))
            sent_events = len(feed.events)
        if feed.status is not None and feed.status != sent_status:
            sent_status = feed.status
            status, step, epoch, message = feed.status
            out.append(sse({"status": status, "step": step, "epoch": epoch, "message": message}, "run"))
        if out:
            last_beat = time.monotonic()
            yield b"".join(out)
        elif time.monotonic() - last_beat > HEARTBEAT_S:
            last_beat = time.monotonic()
            yield b": ping\n\n"


async def _read(hub: FeedHub, run_id: str, position: int) -> list | None:
    """Up to BATCH_ROWS rows after `position` for one client; None when the store failed."""
    def read():
        store = hub.reader()
        return [] if store is None else store.metric_rows(run_id, position, limit=BATCH_ROWS)

    hub.client_reads += 1
    try:
        return await asyncio.to_thread(read)
    except (StoreUnavailable, StoreError):
        return None
    except (sqlite3.Error, ValueError) as e:
        hub.reader.failed(e)
        return None
