"""The dashboard's HTTP API and static page: a Starlette app over the run store, read-only.

    app = create_app("runs", token=None)      # served by `learnsys ui` (see launch.py)

    GET  /                                     the page (static/index.html)
    GET  /api/health                           {"ok": true, "version": ...}
    GET  /api/runs                             every run, newest first
    GET  /api/runs/{id}                        one run: spec, status, events, metric names, artifacts
    GET  /api/runs/{id}/metrics                metric series names
    GET  /api/runs/{id}/events                 events (checkpoint, resume, divergence, ...)
    GET  /api/runs/{id}/series?name=N&start=S&stop=E&width=W&beta=B
                                               min/max buckets of one series (or all its points)
    GET  /api/runs/{id}/csv[?name=N]           full resolution: step,name,value
    GET  /api/runs/{id}/stream[?last_id=N&thin=1]  server-sent events (feed.py)
    GET  /api/runs/{id}/artifacts[/{name}]     artifact names / one artifact (JSON)
    GET  /static/lectures.js, /static/lectures/{search,landscape,graph}.js
                                               the lecture views (empty scripts when absent)
    POST /api/runs/{id}/predict                {"rows": [[x1, ...], ...]} -> {"predictions": [...]}

It imports nothing from the training loop and never imports torch: it reads the store,
and predict asks a child process (predict.py). Bad input is a 4xx with {"error": "one
line"}, never a 5xx; a store that cannot be read is a 503 with one line that says what is
damaged and what to do, and /api/health reports it (reader.py).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import LearnsysError
from ..json_floats import finite_json
from ..store import RunStore, StoreError, check_run_id
from .fanout import FeedHub
from .feed import run_stream
from .inputs import (INT64_MAX, BadRequest, beta_param, clamped_int_param, int_param, json_body, predict_rows,
                     replay_position, shown)
from .predict import PredictionError, PredictWorker, WorkerUnavailable
from .reader import StoreReader, StoreUnavailable
from .runinfo import brief, folder_fields, samples_per_second
from .security import SecurityMiddleware, is_loopback
from .series import SeriesCache, buckets

STATIC = Path(__file__).parent / "static"
LECTURE_STATIC = Path(__file__).parents[1] / "lectures" / "static"   # the lecture layer's page part
LECTURE_VIEWS = LECTURE_STATIC / "lectures.js"                           # its core: registry, chart helpers
LECTURE_VIEW_FILES = ("search.js", "landscape.js", "graph.js")         # one per view, index.html loads each
MAX_WIDTH = 20_000          # pixels; more is certainly a mistake
PREDICT_EXAMPLE = '{"rows": [[4.0], [5.0]]}'


def _json(data, status: int = 200) -> Response:
    body = json.dumps(finite_json(data), separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})


DEFAULT_BETA = 0.4  # the page's default smoothing (0.6) as the lecture's beta = 1 - smoothing
STORE_ERRORS = (sqlite3.DatabaseError, json.JSONDecodeError)  # a damaged store, as its reads fail


def create_app(runs_dir: str | Path, *, token: str | None = None, host: str = "127.0.0.1",
               warm: bool = False) -> Starlette:
    """The dashboard app for the store in `runs_dir`. `host` is where it listens: on loopback
    the Host header must be loopback too; elsewhere `token` is required. `warm` loads the
    newest runs' series in the background at start, so a long run's first view is quick."""
    if token is None and not is_loopback(host):
        raise LearnsysError(f"The dashboard on {host} (not loopback) needs a token: pass --token or let "
                            "`learnsys ui` generate one.")
    reader = StoreReader(runs_dir)
    cache = SeriesCache()
    hub = FeedHub(reader)
    worker = PredictWorker()

    def guarded(endpoint):
        """A store read that fails because the file is damaged becomes a 503 (on the thread
        that read it, so that thread's connection is the one reopened)."""
        def wrapper(request: Request):
            try:
                return endpoint(request)
            except STORE_ERRORS as e:
                raise reader.failed(e) from None
        return wrapper

    def store() -> RunStore:
        s = reader()
        if s is None:
            raise BadRequest(f"No runs yet in {Path(runs_dir).resolve()}.", 404)
        cache.use_generation(reader.current_generation())
        return s

    def run_of(request: Request) -> tuple[RunStore, dict]:
        run_id = request.path_params["run_id"]
        try:
            check_run_id(run_id)
        except StoreError:
            raise BadRequest(f"Invalid run id {shown(run_id)}: use letters, digits, '_', '-' and '.', "
                             "starting with a letter or digit.") from None
        s = store()
        try:
            return s, s.run(run_id)
        except StoreError as e:
            raise BadRequest(e.args[0], 404) from None

    def series_name(request: Request, s: RunStore, run_id: str) -> str:
        name = request.query_params.get("name")
        if not name:
            raise BadRequest("name is required, e.g. ?name=train/loss; /metrics lists the names.")
        if name not in s.metric_names(run_id):
            raise BadRequest(f"Run {run_id!r} has no series {shown(name)}; /metrics lists its names.", 404)
        return name

    async def health(request: Request) -> Response:
        state = await run_in_threadpool(reader.health)
        ok = state["state"] in ("ok", "missing", "starting")
        return _json({"ok": ok, "version": __version__, "store": state}, 200 if ok else 503)

    @guarded
    def runs(request: Request) -> Response:
        s = reader()
        rows = [] if s is None else s.runs()
        return _json([{k: r[k] for k in ("id", "kind", "status", "created", "updated", "data", "model", "step",
                                          "epoch", "total_steps", "message", "train_loss", "dev_loss")}
                      | {"brief": brief(r["spec"])} for r in rows])

    @guarded
    def run(request: Request) -> Response:
        s, info = run_of(request)
        info = dict(info) | folder_fields(info)
        info.pop("folder", None)  # the page needs no file system paths
        info["events"] = s.events(info["id"])
        info["samples_per_s"] = samples_per_second(info, info["events"])
        info["metrics"] = s.metric_names(info["id"])
        info["artifacts"] = s.artifact_names(info["id"])
        info["last_metric_id"] = s.last_metric_id()
        return _json(info)

    @guarded
    def metrics(request: Request) -> Response:
        s, info = run_of(request)
        return _json(s.metric_names(info["id"]))

    @guarded
    def events(request: Request) -> Response:
        s, info = run_of(request)
        return _json(s.events(info["id"], int_param(request, "after", 0, lo=0)))

    @guarded
    def series(request: Request) -> Response:
        s, info = run_of(request)
        name = series_name(request, s, info["id"])
        start = clamped_int_param(request, "start")
        stop = clamped_int_param(request, "stop")
        width = int_param(request, "width", 1000, lo=1, hi=MAX_WIDTH)
        if start is not None and stop is not None and start > stop:
            raise BadRequest(f"start ({start}) must not be greater than stop ({stop}).")
        beta = beta_param(request)
        entry = cache.get(s, info["id"], name)
        lo = 0 if start is None else int(np.searchsorted(entry.steps, start, "left"))
        hi = entry.steps.size if stop is None else int(np.searchsorted(entry.steps, stop, "right"))
        steps, values = entry.steps[lo:hi], entry.values[lo:hi]
        idx = buckets(steps, values, width)
        out = {"run": info["id"], "name": name, "total": int(steps.size),
               "mode": "raw" if idx.size == steps.size else "sampled",
               "first_step": int(entry.steps[0]) if entry.steps.size else None,
               "last_step": int(entry.steps[-1]) if entry.steps.size else None,
               "upto_id": entry.upto_id,
               "steps": steps[idx].tolist(), "values": _finite(values[idx])}
        if beta is not None:
            out["beta"] = beta
            out["smooth"] = _finite(cache.smoothed(entry, beta)[lo:hi][idx])
        # Every float in `out` is finite or None already: no second pass over the arrays.
        return Response(json.dumps(out, separators=(",", ":")), media_type="application/json",
                        headers={"cache-control": "no-store"})

    @guarded
    def csv(request: Request) -> Response:
        s, info = run_of(request)
        run_id = info["id"]
        names = [series_name(request, s, run_id)] if request.query_params.get("name") else s.metric_names(run_id)

        def lines():  # runs on a threadpool thread: use that thread's own connection
            yield "step,name,value\n"
            for name in names:
                try:
                    rows = store().series_rows(run_id, name)
                except (*STORE_ERRORS, StoreUnavailable, HTTPException) as e:
                    problem = reader.failed(e).args[0] if isinstance(e, STORE_ERRORS) else str(e)
                    yield f"# error: the download stopped: {problem}\n"
                    return
                yield "".join(f"{step},{name},{'nan' if v is None else repr(v)}\n" for step, v in rows)

        filename = f"{run_id}.csv" if len(names) != 1 else f"{run_id}-{names[0].replace('/', '_')}.csv"
        return StreamingResponse(lines(), media_type="text/csv",
                                 headers={"content-disposition": f'attachment; filename="{filename}"'})

    def stream_start(request: Request) -> dict:
        s, info = run_of(request)
        s.events(info["id"], INT64_MAX)  # what the feed will read is readable: else a 503 now, not a broken stream
        s.metric_rows(info["id"], INT64_MAX, limit=1)
        return info

    async def stream(request: Request) -> Response:
        last_id = replay_position(request)
        info = await run_in_threadpool(guarded(stream_start), request)
        thinning = request.query_params.get("thin", "0") == "1"
        return StreamingResponse(run_stream(hub, info["id"], last_id, thinning), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    @guarded
    def artifacts(request: Request) -> Response:
        s, info = run_of(request)
        return _json(s.artifact_names(info["id"]))

    @guarded
    def artifact(request: Request) -> Response:
        s, info = run_of(request)
        name = request.path_params["name"]
        data = s.artifact(info["id"], name)
        if data is None:
            raise BadRequest(f"Run {info['id']!r} has no artifact {shown(name)}.", 404)
        return _json(data)

    async def predict(request: Request) -> Response:
        _, info = await run_in_threadpool(guarded(run_of), request)
        rows = predict_rows(await json_body(request, PREDICT_EXAMPLE))
        if not info.get("folder"):
            raise BadRequest(f"Run {info['id']!r} has no run folder, so no trained model to predict with.", 409)
        try:
            preds = await run_in_threadpool(worker.predict, info["folder"], rows)
        except PredictionError as e:
            raise BadRequest(e.args[0], 422) from None
        except WorkerUnavailable as e:
            raise BadRequest(e.args[0], 503) from None
        return _json({"run": info["id"], "predictions": preds})

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    def lectures(request: Request) -> Response:
        # The lecture views are optional: an empty script keeps the page free of 404s without them.
        if LECTURE_VIEWS.exists():
            return FileResponse(LECTURE_VIEWS, media_type="text/javascript")
        return Response("// no lecture views installed\n", media_type="text/javascript")

    def lecture_view(request: Request) -> Response:
        # Only the names index.html loads, matched exactly: no other file of the folder, no path.
        name = request.path_params["name"]
        if name not in LECTURE_VIEW_FILES:
            raise BadRequest(f"No lecture view {shown(name)}.", 404)
        if (LECTURE_STATIC / name).exists():
            return FileResponse(LECTURE_STATIC / name, media_type="text/javascript")
        return Response("// no lecture views installed\n", media_type="text/javascript")

    async def error(request: Request, exc: HTTPException) -> Response:
        return _json({"error": exc.detail}, exc.status_code)

    async def unavailable(request: Request, exc: StoreUnavailable) -> Response:
        response = _json({"error": exc.args[0], "store": exc.state}, 503)
        if exc.state in ("busy", "starting"):
            response.headers["retry-after"] = "1"
        return response

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            hub.close()
            await run_in_threadpool(worker.close)

    routes = [
        Route("/", index),
        Route("/api/health", health),
        Route("/api/runs", runs),
        Route("/api/runs/{run_id}", run),
        Route("/api/runs/{run_id}/metrics", metrics),
        Route("/api/runs/{run_id}/events", events),
        Route("/api/runs/{run_id}/series", series),
        Route("/api/runs/{run_id}/csv", csv),
        Route("/api/runs/{run_id}/stream", stream),
        Route("/api/runs/{run_id}/artifacts", artifacts),
        Route("/api/runs/{run_id}/artifacts/{name}", artifact),
        Route("/api/runs/{run_id}/predict", predict, methods=["POST"]),
        Route("/static/lectures.js", lectures),
        Route("/static/lectures/{name}", lecture_view),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: error, StoreUnavailable: unavailable})
    app.state.reader, app.state.hub, app.state.worker, app.state.cache = reader, hub, worker, cache
    if warm:
        def warm_up() -> None:
            try:
                s = reader()
                if s is not None:
                    cache.use_generation(reader.current_generation())
                    cache.warm(s, smooth=(DEFAULT_BETA,))
            except Exception:  # a best effort: requests load what they need anyway, and say what is wrong
                pass

        threading.Thread(target=warm_up, name="learnsys-ui-warm", daemon=True).start()
    app.add_middleware(SecurityMiddleware, token=token, loopback_only=is_loopback(host))
    return app


def _finite(values: np.ndarray) -> list:
    """The values as a list for JSON, NaN and infinities as None (JSON has neither)."""
    finite = np.isfinite(values)
    if finite.all():
        return values.tolist()
    out = values.astype(object)
    out[~finite] = None
    return out.tolist()
