"""Fan-out: one reader of the store per live run, however many pages watch it.

    hub = FeedHub(reader)               # one per app
    feed = hub.join(run_id)             # the run's RunFeed, started by its first subscriber
    ...                                 # feed.batches, feed.events, feed.status, await feed.wait(v)
    hub.leave(feed)                     # the last one to leave stops its poller

A RunFeed polls the store every POLL_S while the run is live (IDLE_POLL_S otherwise): the
new metric rows after its cursor, the new events and the run's status: three small queries
per poll, whatever the number of subscribers. Each poll that found rows becomes a `Batch`
whose SSE messages (every row, and the thinned form) are encoded once, when the first
subscriber asks, and then sent as the same bytes to everyone. The feed keeps the newest
batches (up to HELD_ROWS rows) so that a subscriber that is a little behind takes them from
memory; only a subscriber further behind than that, or the replay right after connecting,
reads the store itself (feed.py).

A feed whose store file was replaced (the runs dir deleted and made again: a new inode, see
reader.py) ends: its subscribers tell their pages to reload (`event: reset`), and the next
subscriber starts a feed on the new file.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, field

from ..store import StoreError
from .reader import StoreReader, StoreUnavailable

POLL_S = 0.05           # while the run is running: the page sees a row at most ~50 ms after commit
IDLE_POLL_S = 0.5       # runs not running that sent no rows for ACTIVE_S
ACTIVE_S = 5.0
BATCH_ROWS = 5000       # rows per read (and per message when catching up)
HELD_ROWS = 50_000      # rows of recent batches kept in memory for subscribers a little behind
THIN_ROWS = 64          # rows of one series in one message above which a thinning stream samples them
STATUS_EVERY_S = 0.25   # a status change that is only the step waits for rows, or this long


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


@dataclass
class Batch:
    """The run's metric rows with after < id <= upto, as one poll read them."""

    after: int
    upto: int
    rows: list                                  # (id, name, step, value), id order
    _thin: tuple[list, list[str]] | None = None
    _messages: dict = field(default_factory=dict)

    def thinned(self) -> tuple[list, list[str]]:
        if self._thin is None:
            self._thin = thin(self.rows)
        return self._thin

    def message(self, thinning: bool, encode) -> bytes:
        """The SSE message for this batch, encoded once per form and shared by subscribers."""
        key = thinning and bool(self.thinned()[1])
        cached = self._messages.get(key)
        if cached is None:
            rows, names = self.thinned() if key else (self.rows, [])
            cached = self._messages[key] = encode(rows, names, self.upto)
        return cached


class RunFeed:
    """The shared live view of one run; see the module docstring. Runs on the event loop; the
    store reads go to a worker thread."""

    def __init__(self, reader: StoreReader, run_id: str):
        self.reader = reader
        self.run_id = run_id
        self.start: int | None = None   # rows with id > start arrive as batches (set by the first poll)
        self.upto = 0                   # the cursor: rows with id <= upto have been read
        self.batches: deque[Batch] = deque()
        self.held = 0                   # rows in self.batches
        self.events: list[dict] = []
        self.status: tuple | None = None
        self.problem: str | None = None  # one line while the store cannot be read
        self.replaced = False
        self.generation: int | None = None
        self.version = 0                # grows with every change subscribers should see
        self._published = 0.0           # when version last grew
        self._status_waiting = False    # a step-only status change not yet published
        self.polls = 0                  # store reads so far (tests and benchmarks read these)
        self.subscribers = 0
        self._changed = asyncio.Event()
        self.task: asyncio.Task | None = None

    # -- what subscribers call ----------------------------------------------------------

    async def wait(self, seen: int, timeout: float) -> None:
        """Return when the feed's version is past `seen`, or after `timeout` seconds."""
        if self.version > seen:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def held_from(self) -> int:
        """Rows with id > held_from are all in memory (the batches); older ones are not."""
        return self.batches[0].after if self.batches else self.upto

    def pending(self, position: int) -> list[Batch]:
        """The batches with rows after `position` (which is >= held_from())."""
        return [b for b in self.batches if b.upto > position]

    # -- the poller ---------------------------------------------------------------------

    async def run(self) -> None:
        last_rows = time.monotonic()
        while self.subscribers > 0 and not self.replaced:
            polled = await asyncio.to_thread(self._poll, self.start, self.upto,
                                             self.events[-1]["id"] if self.events else 0)
            self.polls += 1
            full = self._apply(polled)
            if full:
                last_rows = time.monotonic()
                if len(self.batches[-1].rows) == BATCH_ROWS:
                    await asyncio.sleep(0)  # more to read: no pause, but let the streams send
                    continue
            live = (self.status is not None and self.status[0] == "running") or time.monotonic() - last_rows < ACTIVE_S
            await asyncio.sleep(POLL_S if live and self.problem is None else IDLE_POLL_S)

    def _poll(self, start: int | None, upto: int, last_event: int):
        """One read of the store (on a worker thread): ('ok', start, rows, events, status),
        ('problem', line) or ('replaced',)."""
        try:
            store = self.reader()
            if store is None:
                return ("problem", f"The run store {self.reader.path} is gone; `learnsys train` makes a new one.")
            generation = self.reader.current_generation()
            if self.generation is not None and generation != self.generation:
                return ("replaced",)
            self.generation = generation
            if start is None:
                start = upto = store.last_metric_id()
            rows = store.metric_rows(self.run_id, upto, limit=BATCH_ROWS)
            events = store.events(self.run_id, last_event)
            r = store.run(self.run_id)
            return ("ok", start, rows, events, (r["status"], r["step"], r["epoch"], r["message"]))
        except StoreUnavailable as e:
            return ("problem", e.args[0])
        except StoreError as e:  # the run is not (or no longer) in this store
            return ("problem", e.args[0])
        except (sqlite3.Error, ValueError) as e:
            return ("problem", self.reader.failed(e).args[0])

    def _apply(self, polled) -> bool:
        """Take one poll's result; True when it brought metric rows."""
        kind = polled[0]
        changed = got_rows = False
        if kind == "replaced":
            self.replaced = changed = True
        elif kind == "problem":
            changed = polled[1] != self.problem
            self.problem = polled[1]
        else:
            _, start, rows, events, status = polled
            if self.problem is not None:
                self.problem, changed = None, True
            if self.start is None:
                self.start = self.upto = start
                changed = True
            if rows:
                self.batches.append(Batch(self.upto, rows[-1][0], rows))
                self.upto = rows[-1][0]
                self.held += len(rows)
                while self.held > HELD_ROWS and len(self.batches) > 1:
                    self.held -= len(self.batches.popleft().rows)
                changed = got_rows = True
            if events:
                self.events += events
                changed = True
            if status != self.status:
                # The step alone moves with every flush: it rides along with rows or events,
                # or goes by itself at most every STATUS_EVERY_S (fewer wake-ups per viewer).
                step_only = self.status is not None and (status[0], status[3]) == (self.status[0], self.status[3])
                self.status = status
                self._status_waiting = step_only
                changed = changed or not step_only
            if self._status_waiting and (changed or time.monotonic() - self._published >= STATUS_EVERY_S):
                self._status_waiting, changed = False, True
        if changed:
            self._published = time.monotonic()
            self.version += 1
            self._changed.set()
            self._changed = asyncio.Event()
        return got_rows


class FeedHub:
    """The RunFeeds of one app, by run id."""

    def __init__(self, reader: StoreReader):
        self.reader = reader
        self.feeds: dict[str, RunFeed] = {}
        self.client_reads = 0   # reads made for one subscriber (replays, far-behind catch-ups)
        self.started = 0        # feeds started so far

    def join(self, run_id: str) -> RunFeed:
        feed = self.feeds.get(run_id)
        if feed is None or feed.replaced or feed.task is None or feed.task.done():
            feed = self.feeds[run_id] = RunFeed(self.reader, run_id)
            feed.task = asyncio.get_running_loop().create_task(feed.run(), name=f"learnsys-feed-{run_id}")
            self.started += 1
        feed.subscribers += 1
        return feed

    def leave(self, feed: RunFeed) -> None:
        feed.subscribers -= 1
        if feed.subscribers <= 0:
            if feed.task is not None:
                feed.task.cancel()
            if self.feeds.get(feed.run_id) is feed:
                del self.feeds[feed.run_id]

    def close(self) -> None:
        for feed in list(self.feeds.values()):
            if feed.task is not None:
                feed.task.cancel()
        self.feeds.clear()
