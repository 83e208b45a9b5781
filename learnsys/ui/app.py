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
    POST /api/runs/{id}/predict                {"rows": [[x1, ...], ...]} -> {"predictions": [...]}

It imports nothing from the training loop: it reads the store, and predict loads
`learnsys.inference` lazily. Bad input is a 4xx with {"error": "one line"}, never a 5xx.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import LearnsysError
from ..store import STORE_FILENAME, RunStore, StoreError, check_run_id
from .feed import finite_json, run_stream
from .runinfo import brief, data_shape
from .security import SecurityMiddleware, is_loopback
from .series import SeriesCache, buckets

STATIC = Path(__file__).parent / "static"
MAX_WIDTH = 20_000          # pixels; more is certainly a mistake
MAX_PREDICT_ROWS = 10_000


class BadRequest(HTTPException):
    def __init__(self, message: str, status: int = 400):
        super().__init__(status_code=status, detail=message)


class StoreReader:
    """One read-only RunStore per thread (sqlite connections are not shared across threads);
    None while the store file does not exist yet (the server can start before any run)."""

    def __init__(self, runs_dir: str | Path):
        self.path = Path(runs_dir) / STORE_FILENAME
        self._local = threading.local()

    def __call__(self) -> RunStore | None:
        store = getattr(self._local, "store", None)
        if store is None:
            if not self.path.exists():
                return None
            store = self._local.store = RunStore(self.path, readonly=True)
        return store


def _json(data, status: int = 200) -> Response:
    body = json.dumps(finite_json(data), separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})


def _int_param(request: Request, name: str, default: int | None = None, *, lo: int | None = None,
               hi: int | None = None) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {text!r}.") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise BadRequest(f"{name} must be between {lo} and {hi}, got {value}.")
    return value


DEFAULT_BETA = 0.4  # the page's default smoothing (0.6) as the lecture's beta = 1 - smoothing


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

    def store() -> RunStore:
        s = reader()
        if s is None:
            raise BadRequest(f"No runs yet in {Path(runs_dir).resolve()}.", 404)
        return s

    def run_of(request: Request) -> tuple[RunStore, dict]:
        run_id = request.path_params["run_id"]
        try:
            check_run_id(run_id)
        except StoreError as e:
            raise BadRequest(e.args[0]) from None
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
            raise BadRequest(f"Run {run_id!r} has no series {name!r}; /metrics lists its names.", 404)
        return name

    def health(request: Request) -> Response:
        return _json({"ok": True, "version": __version__})

    def runs(request: Request) -> Response:
        s = reader()
        rows = [] if s is None else s.runs()
        return _json([{k: r[k] for k in ("id", "kind", "status", "created", "updated", "data", "model", "step",
                                          "epoch", "total_steps", "message", "train_loss", "dev_loss")}
                      | {"brief": brief(r["spec"])} for r in rows])

    def run(request: Request) -> Response:
        s, info = run_of(request)
        info = dict(info) | data_shape(info)
        info.pop("folder", None)  # the page needs no file system paths
        info["events"] = s.events(info["id"])
        info["metrics"] = s.metric_names(info["id"])
        info["artifacts"] = s.artifact_names(info["id"])
        info["last_metric_id"] = s.last_metric_id()
        return _json(info)

    def metrics(request: Request) -> Response:
        s, info = run_of(request)
        return _json(s.metric_names(info["id"]))

    def events(request: Request) -> Response:
        s, info = run_of(request)
        return _json(s.events(info["id"], _int_param(request, "after", 0, lo=0)))

    def series(request: Request) -> Response:
        s, info = run_of(request)
        name = series_name(request, s, info["id"])
        start = _int_param(request, "start")
        stop = _int_param(request, "stop")
        width = _int_param(request, "width", 1000, lo=1, hi=MAX_WIDTH)
        if start is not None and stop is not None and start > stop:
            raise BadRequest(f"start ({start}) must not be greater than stop ({stop}).")
        beta = None
        if request.query_params.get("beta"):
            try:
                beta = float(request.query_params["beta"])
            except ValueError:
                raise BadRequest(f"beta must be a number in (0, 1], got {request.query_params['beta']!r}.") from None
            if not (0.0 < beta <= 1.0):
                raise BadRequest(f"beta must be in (0, 1], got {beta}.")
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
        return _json(out)

    def csv(request: Request) -> Response:
        s, info = run_of(request)
        run_id = info["id"]
        names = [series_name(request, s, run_id)] if request.query_params.get("name") else s.metric_names(run_id)

        def lines():  # runs on a threadpool thread: use that thread's own connection
            yield "step,name,value\n"
            for name in names:
                rows = store().series_rows(run_id, name)
                yield "".join(f"{step},{name},{'nan' if v is None else repr(v)}\n" for step, v in rows)

        filename = f"{run_id}.csv" if len(names) != 1 else f"{run_id}-{names[0].replace('/', '_')}.csv"
        return StreamingResponse(lines(), media_type="text/csv",
                                 headers={"content-disposition": f'attachment; filename="{filename}"'})

    async def stream(request: Request) -> Response:
        _, info = run_of(request)
        header = request.headers.get("last-event-id")
        text = header if header else request.query_params.get("last_id", "0")
        try:
            last_id = int(text)
        except ValueError:
            raise BadRequest(f"Last-Event-ID / last_id must be an integer, got {text!r}.") from None
        if last_id < 0:
            raise BadRequest(f"last_id must be >= 0, got {last_id}.")
        thinning = request.query_params.get("thin", "0") == "1"
        return StreamingResponse(run_stream(reader, info["id"], last_id, thinning), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    def artifacts(request: Request) -> Response:
        s, info = run_of(request)
        return _json(s.artifact_names(info["id"]))

    def artifact(request: Request) -> Response:
        s, info = run_of(request)
        name = request.path_params["name"]
        data = s.artifact(info["id"], name)
        if data is None:
            raise BadRequest(f"Run {info['id']!r} has no artifact {name!r}.", 404)
        return _json(data)

    async def predict(request: Request) -> Response:
        _, info = run_of(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest('The body must be JSON: {"rows": [[x1, ...], ...]}.') from None
        rows = body.get("rows") if isinstance(body, dict) else None
        if (not isinstance(rows, list) or not rows or len(rows) > MAX_PREDICT_ROWS
                or not all(isinstance(r, list) and r and all(_is_number(x) for x in r) for r in rows)):
            raise BadRequest(f'"rows" must be a non-empty list (at most {MAX_PREDICT_ROWS}) of non-empty '
                             'lists of finite numbers, e.g. {"rows": [[4.0], [5.0]]}.')
        if not info.get("folder"):
            raise BadRequest(f"Run {info['id']!r} has no run folder, so no trained model to predict with.", 409)
        from starlette.concurrency import run_in_threadpool

        try:
            preds = await run_in_threadpool(_predict, info["folder"], [[float(x) for x in r] for r in rows])
        except LearnsysError as e:
            raise BadRequest(e.args[0], 422) from None
        except Exception as e:  # the model rejected these inputs (shape, dtype): the caller's to fix
            raise BadRequest(f"Prediction failed: {type(e).__name__}: {e}".splitlines()[0], 422) from None
        return _json({"run": info["id"], "predictions": preds})

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    def lectures(request: Request) -> Response:
        # The lecture views are optional: an empty script keeps the page free of 404s without them.
        path = STATIC / "lectures.js"
        if path.exists():
            return FileResponse(path, media_type="text/javascript")
        return Response("// no lecture views installed\n", media_type="text/javascript")

    async def error(request: Request, exc: HTTPException) -> Response:
        return _json({"error": exc.detail}, exc.status_code)

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
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: error})
    if warm:
        def warm_up() -> None:
            s = reader()
            if s is not None:
                try:
                    cache.warm(s, smooth=(DEFAULT_BETA,))
                except Exception:  # a best effort: requests load what they need anyway
                    pass

        threading.Thread(target=warm_up, name="learnsys-ui-warm", daemon=True).start()
    app.add_middleware(SecurityMiddleware, token=token, loopback_only=is_loopback(host))
    return app


def _finite(values: np.ndarray) -> list:
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _predict(folder: str, rows: list[list[float]]) -> list:
    try:
        from ..inference import load_predictor
    except ImportError:
        raise LearnsysError("Predictions are not available in this install (learnsys.inference is missing).") from None
    return load_predictor(folder).predict(rows)
