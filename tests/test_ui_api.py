"""The dashboard's HTTP API: every endpoint, bad run ids and bad ranges (4xx, never 5xx),
the security rules, the series buckets and smoothing against references, SSE replay and
the launcher. Runs are written with RunStore (a real SQLite file in a tmp dir); predict
and the SSE tests use a real `learnsys train` / `learnsys ui` process."""

from __future__ import annotations

import ast
import json
import math
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient; httpx works
    warnings.filterwarnings("ignore", message=".*httpx")
    from starlette.testclient import TestClient

from learnsys.errors import LearnsysError
from learnsys.store import STORE_FILENAME, RunStore
from learnsys.ui.app import create_app
from learnsys.ui.launch import choose_port, start_dashboard
from learnsys.ui.security import CSP
from learnsys.ui.series import buckets, ewm

REPO = Path(__file__).resolve().parents[1]
N = 3000


def _ewm_reference(values, beta):
    """Lecture 3, literally: c'_0 = c_0, c'_i = beta c_i + (1 - beta) c'_{i-1}; NaN skipped."""
    out, prev = [], None
    for c in values:
        if not math.isfinite(c):
            out.append(math.nan)
            continue
        prev = c if prev is None else beta * c + (1 - beta) * prev
        out.append(prev)
    return np.array(out)


def _loss(step: int) -> float:
    return 1.0 / math.sqrt(step) + (5.0 if step == 1234 else 0.0)  # one spike


@pytest.fixture
def runs(runs_dir: Path) -> Path:
    store = RunStore(runs_dir / STORE_FILENAME)
    store.create_run("r1", kind="train", spec={"lr": 0.01}, folder=str(runs_dir / "r1"), status="stopped",
                     model="linear", data="lecture", total_steps=N)
    rows = []
    for s in range(1, N + 1):
        rows += [("train/loss", s, math.nan if s == 2000 else _loss(s)), ("lr", s, 0.01), ("param/w", s, 2 - 1 / s)]
    store.append_metrics("r1", rows)
    store.append_metrics("r1", [("dev/loss", s, 1.0 / s) for s in range(100, N + 1, 100)])
    store.add_event("r1", 1000, "checkpoint", "Checkpoint at step 1000.", {"x": math.nan})
    store.put_artifact("r1", "search", {"w": [0, 1, 2], "loss": [2.0, 1.0, 2.0]})
    store.create_run("s1", kind="search", spec={}, status="finished")
    store.close()
    return runs_dir


@pytest.fixture
def client(runs: Path):
    with TestClient(create_app(runs), base_url="http://127.0.0.1:8765") as c:
        yield c


def test_health_index_and_static(client):
    assert client.get("/api/health").json()["ok"] is True
    page = client.get("/")
    assert page.status_code == 200 and "static/app.js" in page.text
    assert page.headers["content-security-policy"] == CSP
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/vendor/echarts.min.js").status_code == 200
    views = client.get("/static/lectures.js")  # the lecture layer's views (an empty script when absent)
    assert views.status_code == 200 and "learnsysViews" in views.text
    assert client.get("/static/../store.py").status_code == 404


def test_lecture_view_files_are_served_from_their_allowlist_only(client, monkeypatch):
    """Each view file index.html loads is served; no other name of that folder or beyond it;
    without the lecture layer's folder every allowed name is an empty script, not a 404."""
    from learnsys.ui import app as ui_app

    html = (REPO / "learnsys/ui/static/index.html").read_text()
    folder = REPO / "learnsys/lectures/static"
    assert sorted(ui_app.LECTURE_VIEW_FILES) == sorted(p.name for p in folder.glob("*.js") if p.name != "lectures.js")
    for name in ui_app.LECTURE_VIEW_FILES:
        assert f'src="static/lectures/{name}"' in html
        r = client.get(f"/static/lectures/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        assert r.text == (folder / name).read_text()
    for bad in ("lectures.js", "Search.js", "search.js.bak", "..%2Fapp.py", "%2E%2E%2Fcli.py", "search", "x.js"):
        r = client.get(f"/static/lectures/{bad}")
        assert r.status_code == 404 and "def " not in r.text, bad
    monkeypatch.setattr(ui_app, "LECTURE_STATIC", folder.parent / "no-such-folder")
    monkeypatch.setattr(ui_app, "LECTURE_VIEWS", folder.parent / "no-such-folder" / "lectures.js")
    for path in ["/static/lectures.js", *(f"/static/lectures/{n}" for n in ui_app.LECTURE_VIEW_FILES)]:
        r = client.get(path)
        assert r.status_code == 200 and r.text.startswith("// no lecture views"), path


def test_page_has_no_inline_script_and_loads_nothing_remote():
    html = (REPO / "learnsys/ui/static/index.html").read_text()
    for tag in html.split("<script")[1:]:
        assert 'src="static/' in tag.split(">")[0] and tag.split(">", 1)[1].startswith("</script")
    assert "http://" not in html and "https://" not in html


def test_both_languages_have_every_label():
    import re

    text = (REPO / "learnsys/ui/static/i18n.js").read_text()
    en, zh = text.split("\n  zh: {")
    keys = [set(re.findall(r"(\w+): '", part)) for part in (en.split("en: {")[1], zh)]
    assert keys[0] == keys[1] and len(keys[0]) > 40
    html = (REPO / "learnsys/ui/static/index.html").read_text()
    assert set(re.findall(r'data-i18n="(\w+)"', html)) <= keys[0]


def test_runs_and_run(client):
    runs = client.get("/api/runs").json()
    assert {r["id"] for r in runs} == {"r1", "s1"}
    r1 = client.get("/api/runs/r1").json()
    assert r1["status"] == "stopped" and r1["total_steps"] == N and "folder" not in r1
    assert r1["metrics"] == ["dev/loss", "lr", "param/w", "train/loss"]
    assert r1["events"][0]["kind"] == "checkpoint" and r1["events"][0]["data"] == {"x": None}  # NaN -> null
    assert r1["artifacts"] == ["search"] and r1["last_metric_id"] == 3 * N + N // 100
    assert client.get("/api/runs/r1/metrics").json() == r1["metrics"]
    assert [e["step"] for e in client.get("/api/runs/r1/events").json()] == [1000]
    assert client.get("/api/runs/r1/events?after=1").json() == []


def test_series_raw_when_few_points(client):
    r = client.get("/api/runs/r1/series?name=train/loss&width=5000").json()
    assert r["mode"] == "raw" and r["total"] == N and r["steps"] == list(range(1, N + 1))
    assert r["values"][1999] is None  # NaN at step 2000 -> null
    assert r["values"][0] == 1.0 and "smooth" not in r


def test_series_buckets_keep_first_last_spike_and_gap(client):
    r = client.get("/api/runs/r1/series?name=train/loss&width=100").json()
    assert r["mode"] == "sampled" and r["total"] == N and len(r["steps"]) <= 3 * 100 + 2
    assert r["steps"][0] == 1 and r["steps"][-1] == N
    assert 1234 in r["steps"] and r["values"][r["steps"].index(1234)] == _loss(1234)  # the spike
    assert r["values"][r["steps"].index(2000)] is None  # the NaN still breaks the line
    assert r["steps"] == sorted(r["steps"])


def test_series_range_is_full_resolution(client):
    r = client.get("/api/runs/r1/series?name=train/loss&start=1200&stop=1300&width=100").json()
    assert r["mode"] == "raw" and r["steps"] == list(range(1200, 1301))
    assert r["first_step"] == 1 and r["last_step"] == N


def test_series_smooth_is_computed_on_raw_points(client):
    ref = _ewm_reference([math.nan if s == 2000 else _loss(s) for s in range(1, N + 1)], 0.1)
    for query in ("width=100", "width=5000", "start=1500&stop=1600&width=1000"):
        r = client.get(f"/api/runs/r1/series?name=train/loss&beta=0.1&{query}").json()
        got = np.array([math.nan if v is None else v for v in r["smooth"]])
        want = ref[np.array(r["steps"]) - 1]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", [
    "/api/runs/{}", "/api/runs/{}/metrics", "/api/runs/{}/events", "/api/runs/{}/series?name=lr",
    "/api/runs/{}/csv", "/api/runs/{}/stream", "/api/runs/{}/artifacts", "/api/runs/{}/artifacts/search",
])
@pytest.mark.parametrize("run_id", ["..", "..%2F..%2Fetc", ".hidden", "a%20b", "nope", "r1..x", "%2e%2e", "-x"])
def test_bad_run_ids_are_4xx(client, path, run_id):
    r = client.get(path.format(run_id))
    assert 400 <= r.status_code < 500, (path, run_id, r.status_code)
    if r.headers["content-type"].startswith("application/json"):
        assert "error" in r.json()


def test_bad_run_id_predict_is_4xx(client):
    r = client.post("/api/runs/..%2Fx/predict", json={"rows": [[1.0]]})
    assert 400 <= r.status_code < 500


@pytest.mark.parametrize("query,status", [
    ("name=train/loss&start=10&stop=5", 400), ("name=train/loss&start=abc", 400), ("name=train/loss&stop=1.5", 400),
    ("name=train/loss&width=0", 400), ("name=train/loss&width=-3", 400), ("name=train/loss&width=10000000", 400),
    ("name=train/loss&width=x", 400), ("name=train/loss&beta=0", 400), ("name=train/loss&beta=1.5", 400),
    ("name=train/loss&beta=nan", 400), ("name=train/loss&beta=abc", 400), ("", 400), ("name=nope", 404),
    ("name=train/loss&start=99999999999999999999999", 200), ("name=train/loss&start=-5&stop=-1", 200),
])
def test_bad_ranges_are_4xx(client, query, status):
    r = client.get(f"/api/runs/r1/series?{query}")
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["total"] == 0 and r.json()["steps"] == []


def test_stream_bad_last_id(client):
    assert client.get("/api/runs/r1/stream?last_id=-1").status_code == 400
    assert client.get("/api/runs/r1/stream", headers={"Last-Event-ID": "abc"}).status_code == 400
    r = client.get("/api/runs/r1/stream", headers={"Last-Event-ID": "9" * 23})  # the stream used to die on it
    assert r.status_code == 400 and "Last-Event-ID" in r.json()["error"]
    assert client.get("/api/runs/r1/stream?last_id=" + "1" * 5000).status_code == 400


@pytest.mark.parametrize("query", [
    "events?after=99999999999999999999", "events?after=9223372036854775808", "events?after=" + "9" * 5000,
    "events?after=-1", "events?after=1e3", "events?after=%00", "series?name=lr&width=" + "9" * 400,
    "series?name=lr&width=" + "9" * 5000, "series?name=lr&beta=" + "9" * 400, "series?name=lr&beta=1e999",
    "series?name=lr&start=" + "x" * 5000, "series?name=" + "n" * 5000, "artifacts/" + "a" * 5000,
])
def test_huge_and_malformed_values_are_one_short_4xx_line(client, query):
    r = client.get(f"/api/runs/r1/{query}")
    assert 400 <= r.status_code < 500, (query[:50], r.status_code, r.text[:200])
    error = r.json()["error"]
    assert "\n" not in error and len(error) < 300  # a 5,000-digit value is not echoed back whole


def test_step_bounds_beyond_64_bits_are_an_empty_or_full_range(client):
    r = client.get("/api/runs/r1/series?name=lr&start=-" + "9" * 30 + "&stop=" + "9" * 30).json()
    assert r["total"] == N
    assert client.get("/api/runs/r1/series?name=lr&start=" + "9" * 30).json()["total"] == 0
    assert client.get("/api/runs/r1/events?after=9223372036854775807").json() == []


def test_csv_is_full_resolution(client):
    text = client.get("/api/runs/r1/csv?name=train/loss").text.splitlines()
    assert text[0] == "step,name,value" and len(text) == N + 1
    assert text[1] == "1,train/loss,1.0" and text[2000] == "2000,train/loss,nan"
    assert float(text[1234].split(",")[2]) == _loss(1234)
    every = client.get("/api/runs/r1/csv")
    assert every.headers["content-disposition"] == 'attachment; filename="r1.csv"'
    assert len(every.text.splitlines()) == 1 + 3 * N + N // 100
    assert client.get("/api/runs/r1/csv?name=nope").status_code == 404


def test_artifacts(client):
    assert client.get("/api/runs/r1/artifacts").json() == ["search"]
    assert client.get("/api/runs/r1/artifacts/search").json()["loss"] == [2.0, 1.0, 2.0]
    assert client.get("/api/runs/r1/artifacts/graph").status_code == 404
    assert client.get("/api/runs/s1/artifacts").json() == []


def test_read_only_apart_from_predict(client):
    for path in ("/api/runs", "/api/runs/r1", "/api/runs/r1/series?name=lr"):
        assert client.post(path, json={}).status_code == 405
        assert client.delete(path).status_code == 405
    assert client.post("/api/runs/r1/predict", content=b"rows=1",
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 415


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"rows": []}', b'{"rows": [[]]}', b'{"rows": [["a"]]}', b'{"rows": [[1e999]]}',
    b'{"rows": 3}', b'{"rows": [[true]]}', b'{"rows": [[null]]}', b"\xff\xfe", b"",
    b'{"rows": [[' + b"9" * 400 + b']]}',              # beyond a float: used to overflow in the check (500)
    b'{"rows": [[' + b"9" * 5000 + b']]}',             # beyond Python's digit limit: used to be a ValueError
    b'{"rows": [[-' + b"9" * 4000 + b']]}',
    b"[" * 100_000 + b"]" * 100_000,                   # used to overflow the parser's recursion
    b'{"rows": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"rows": [[1.0]], "x": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
])
def test_predict_bad_bodies_are_400(client, body):
    r = client.post("/api/runs/r1/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, (body[:60], r.status_code, r.text[:200])
    error = r.json()["error"]
    assert ("rows" in error or "JSON" in error) and "\n" not in error and len(error) < 300


def test_predict_body_size_is_bounded(client):
    from learnsys.ui.inputs import MAX_BODY_BYTES

    r = client.post("/api/runs/r1/predict", content=b" " * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "bytes" in r.json()["error"]
    big = json.dumps({"rows": [[1.0]] * 10_001}).encode()
    assert client.post("/api/runs/r1/predict", content=big, headers={"content-type": "application/json"}).status_code == 400


def test_predict_run_without_model_is_4xx(client):
    r = client.post("/api/runs/r1/predict", json={"rows": [[4.0]]})  # r1's folder has no checkpoint
    assert 400 <= r.status_code < 500 and r.json()["error"]


def test_predict_with_a_trained_run(runs_dir: Path):
    subprocess.run([sys.executable, "-m", "learnsys", "train", "--steps", "20", "--no-ui", "--quiet",
                    "--runs-dir", str(runs_dir), "--run-id", "t1"], check=True, capture_output=True, timeout=120)
    with TestClient(create_app(runs_dir), base_url="http://127.0.0.1:8765") as c:
        r = c.post("/api/runs/t1/predict", json={"rows": [[4.0], [5.0]]})
        assert r.status_code == 200, r.text
        preds = r.json()["predictions"]
        assert len(preds) == 2 and all(math.isfinite(p[0]) for p in preds)
        bad = c.post("/api/runs/t1/predict", json={"rows": [[4.0, 1.0]]})
        assert bad.status_code == 422 and "feature" in bad.json()["error"]
        assert c.post("/api/runs/t1/predict", json={"rows": [[1e300]]}).status_code in (200, 422)
        worker = c.app.state.worker
        assert worker.starts == 1  # one long-lived worker process for every predict
        worker._process.kill()  # a worker that died is replaced on the next request
        worker._process.wait()
        again = c.post("/api/runs/t1/predict", json={"rows": [[4.0]]})
        assert again.status_code == 200 and again.json()["predictions"] == preds[:1] and worker.starts == 2
    assert worker._process is None  # the app's shutdown stopped it


def test_no_store_yet(tmp_path: Path):
    with TestClient(create_app(tmp_path / "empty"), base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/runs").json() == []
        assert c.get("/api/runs/r1").status_code == 404


def test_host_header_must_be_loopback(client):
    assert client.get("/api/runs", headers={"host": "evil.example:8765"}).status_code == 421
    assert client.get("/api/runs", headers={"host": "localhost:8765"}).status_code == 200


def test_token(runs: Path):
    with pytest.raises(LearnsysError, match="token"):
        create_app(runs, host="0.0.0.0")
    app = create_app(runs, token="s3cret-token", host="0.0.0.0")
    with TestClient(app, base_url="http://192.0.2.1:8765") as c:
        r = c.get("/api/runs")
        assert r.status_code == 401 and "token" in r.text and r.headers["content-security-policy"] == CSP
        assert c.get("/api/runs?token=wrong").status_code == 401
        page = c.get("/?token=s3cret-token")
        assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
        assert c.get("/api/runs").status_code == 200  # the cookie
    with TestClient(app, base_url="http://192.0.2.1:8765") as c:
        assert c.get("/api/runs", headers={"authorization": "Bearer s3cret-token"}).status_code == 200


def test_security_headers_on_every_response(client):
    for path in ("/", "/api/runs", "/api/runs/nope", "/static/app.js", "/api/runs/r1/series?name=x"):
        h = client.get(path).headers
        assert h["content-security-policy"] == CSP and h["x-content-type-options"] == "nosniff"
        assert "'unsafe-inline'" not in h["content-security-policy"]
        assert h["referrer-policy"] == "no-referrer"


def test_framing_is_allowed_from_loopback_origins_only(client):
    """A notebook on this machine may show the dashboard in an iframe; nothing else may."""
    for path in ("/", "/api/runs", "/api/runs/nope"):
        h = client.get(path).headers
        assert "x-frame-options" not in h  # it cannot list origins; frame-ancestors does
        directives = dict(d.strip().split(" ", 1) for d in h["content-security-policy"].split(";"))
        sources = directives["frame-ancestors"].split()
        assert set(sources) == {"'self'", "http://127.0.0.1:*", "http://localhost:*",
                                "https://127.0.0.1:*", "https://localhost:*"}  # CSP has no syntax for [::1]
        assert "*" not in sources and "'none'" not in sources


def test_series_cache_notices_a_resume(runs: Path):
    """A resume deletes the rows after the checkpoint and logs them again: no stale points."""
    with TestClient(create_app(runs), base_url="http://127.0.0.1:8765") as c:
        before = c.get("/api/runs/r1/series?name=param/w&width=5000&beta=0.5").json()
        assert before["total"] == N
        store = RunStore(runs / STORE_FILENAME)
        store.truncate_after("r1", 1000)
        store.append_metrics("r1", [("param/w", s, -1.0) for s in range(1001, 1101)])
        store.add_event("r1", 1000, "resume", "Resumed from step 1000.")
        after = c.get("/api/runs/r1/series?name=param/w&width=5000&beta=0.5").json()
        assert after["total"] == 1100 and after["steps"] == list(range(1, 1101)) and after["values"][-1] == -1.0
        store.append_metrics("r1", [("param/w", 1101, -2.0)])  # and the incremental path still works
        last = c.get("/api/runs/r1/series?name=param/w&width=5000&beta=0.5").json()
        assert last["total"] == 1101 and last["values"][-1] == -2.0
        ref = _ewm_reference(last["values"], 0.5)
        np.testing.assert_allclose(last["smooth"], ref, rtol=1e-12)
        store.close()


# -- series functions against references --------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)), min_size=1, max_size=700),
       st.floats(0.01, 1.0))
def test_ewm_matches_the_lecture_formula(values, beta):
    np.testing.assert_allclose(ewm(np.array(values), beta), _ewm_reference(values, beta), rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=2000), st.integers(1, 300))
def test_buckets_keep_every_bucket_extreme(values, width):
    values = np.array(values)
    steps = np.arange(1, values.size + 1) * 3
    idx = buckets(steps, values, width)
    assert idx[0] == 0 and idx[-1] == values.size - 1 and np.all(np.diff(idx) > 0)
    if values.size <= 2 * width:
        assert idx.size == values.size
        return
    assert idx.size <= 2 * width + 2
    bucket = ((steps - steps[0]) * width) // (steps[-1] - steps[0] + 1)
    for b in np.unique(bucket):
        in_b = bucket == b
        kept = values[idx[bucket[idx] == b]]
        assert values[in_b].max() in kept and values[in_b].min() in kept


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1.0])),
                min_size=1, max_size=1500),
       st.integers(1, 200), st.sampled_from(["every", "stride", "gaps"]), st.randoms(use_true_random=False))
def test_buckets_pick_exactly_what_one_bucket_at_a_time_picks(values, width, layout, rnd):
    """The grid and the per-bucket paths against the plain loop: the same indices."""
    from learnsys.ui.series import _buckets_reference

    values = np.array(values)
    n = values.size
    if layout == "every":
        steps = np.arange(1, n + 1)
    elif layout == "stride":
        steps = np.arange(1, n + 1) * 7 + 3
    else:  # uneven buckets: the fallback path
        steps = np.cumsum([rnd.choice([1, 1, 1, 500]) for _ in range(n)])
    np.testing.assert_array_equal(buckets(steps, values, width), _buckets_reference(steps, values, width))


# -- SSE and the launcher (real processes) ------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_sse(url: str, headers: dict, want_rows: int, timeout: float = 10.0) -> tuple[list, list]:
    rows, ids = [], []
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("id: "):
                ids.append(int(line[4:]))
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "metrics":
                rows += json.loads(line[6:])["rows"]
            if len(rows) >= want_rows or time.monotonic() > deadline:
                break
    return rows, ids


def test_sse_pushes_new_rows_and_replays_from_last_event_id(runs: Path):
    dash = start_dashboard(str(runs), port=_free_port())
    try:
        base = dash.url.rstrip("/")
        last = 3 * N + N // 100
        store = RunStore(runs / STORE_FILENAME)
        store.append_metrics("r1", [("train/loss", N + 1, 0.5), ("train/loss", N + 2, 0.25)])
        rows, ids = _read_sse(f"{base}/api/runs/r1/stream?last_id={last}", {}, 2)
        assert [r[1:] for r in rows] == [["train/loss", N + 1, 0.5], ["train/loss", N + 2, 0.25]]
        assert ids[-1] == last + 2
        # A reconnecting browser sends Last-Event-ID: exactly the rows after it come back.
        rows, _ = _read_sse(f"{base}/api/runs/r1/stream", {"Last-Event-ID": str(last + 1)}, 1)
        assert [r[0] for r in rows] == [last + 2]
        # Rows that land while connected are pushed.
        with httpx.stream("GET", f"{base}/api/runs/r1/stream?last_id={last + 2}", timeout=10) as r:
            t0 = time.monotonic()
            store.append_metrics("r1", [("train/loss", N + 3, 0.125)])
            for line in r.iter_lines():
                if line.startswith("data: ") and '"rows"' in line:
                    assert json.loads(line[6:])["rows"][0][1:] == ["train/loss", N + 3, 0.125]
                    break
                assert time.monotonic() - t0 < 10
        store.close()
    finally:
        dash.close()
    assert dash.process.poll() is not None


def test_explicit_port_in_use_is_one_line(runs: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LearnsysError) as e:
            start_dashboard(str(runs), port=port)
        assert f"Port {port}" in str(e.value) and "\n" not in str(e.value)
        r = subprocess.run([sys.executable, "-m", "learnsys", "ui", "--runs-dir", str(runs), "--port", str(port)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "in use" in r.stderr


def test_without_port_the_next_free_one_is_used(monkeypatch):
    import learnsys.ui.launch as launch

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setattr(launch, "DEFAULT_PORT", port)
        assert choose_port("127.0.0.1", None) > port


def test_non_loopback_host_gets_a_token(runs: Path):
    dash = start_dashboard(str(runs), host="0.0.0.0", port=_free_port())
    try:
        assert "?token=" in dash.url
        base, token = dash.url.split("?token=")
        assert httpx.get(base + "api/runs").status_code == 401
        assert httpx.get(base + "api/runs", headers={"authorization": f"Bearer {token}"}).status_code == 200
    finally:
        dash.close()



def test_a_token_that_starts_with_a_dash_reaches_the_server(runs: Path):
    # token_urlsafe draws '-' first about once in 64 launches; as its own argv word argparse took it for an option
    dash = start_dashboard(str(runs), host="0.0.0.0", port=_free_port(), token="-starts-with-a-dash")
    try:
        base, token = dash.url.split("?token=")
        assert token == "-starts-with-a-dash"
        assert httpx.get(base + "api/runs", headers={"authorization": f"Bearer {token}"}).status_code == 200
    finally:
        dash.close()

def test_ui_does_not_import_the_training_loop():
    for path in (REPO / "learnsys/ui").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            for name in names:
                assert not any(bad in name for bad in ("learnsys.train", "learnsys.api", "..train", "..api")), \
                    f"{path.name} imports {name}"
                assert name.split(".")[0] != "torch", f"{path.name} imports torch"


def test_dashboard_exits_when_its_parent_is_killed(runs: Path, tmp_path: Path):
    """kill -9 of the training process must not leave a server holding the port."""
    port = _free_port()
    script = tmp_path / "parent.py"
    script.write_text("import sys, time\nfrom learnsys.ui.launch import start_dashboard\n"
                      f"start_dashboard({str(runs)!r}, port={port})\nprint('up', flush=True)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "up"
        assert httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=0.5)
            except httpx.TransportError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the dashboard outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_thinning_stream_keeps_ends_and_extremes(runs: Path):
    """?thin=1: a burst of rows of one series in one poll is cut to first/min/max/last/NaN
    and named under "thinned"; the replay right after connecting is sent whole."""
    from learnsys.ui.feed import THIN_ROWS, thin

    rows = [(i, "train/loss", i, 1.0 / i) for i in range(1, 1001)]
    rows[500] = (501, "train/loss", 501, 9.0)
    rows[700] = (701, "train/loss", 701, math.nan)
    rows += [(1001 + i, "lr", i, 0.01) for i in range(THIN_ROWS)]
    kept, thinned = thin(sorted(rows))
    assert thinned == ["train/loss"]
    loss = [r for r in kept if r[1] == "train/loss"]
    assert [r[2] for r in loss] == [1, 501, 701, 1000]  # first, max (the spike), first NaN, last (= min)
    assert len([r for r in kept if r[1] == "lr"]) == THIN_ROWS  # few enough: all of them
    assert [r[0] for r in kept] == sorted(r[0] for r in kept)

    dash = start_dashboard(str(runs), port=_free_port())
    try:
        base = dash.url.rstrip("/")
        last = 3 * N + N // 100
        store = RunStore(runs / STORE_FILENAME)
        store.append_metrics("r1", [("lr", N + k, 0.5) for k in range(1, 201)])  # before connecting: a replay
        with httpx.stream("GET", f"{base}/api/runs/r1/stream?last_id={last}&thin=1", timeout=10) as r:
            messages = []
            for line in r.iter_lines():
                if line.startswith("data: ") and '"rows"' in line:
                    messages.append(json.loads(line[6:]))
                    if len(messages) == 1:  # now a live burst
                        store.append_metrics("r1", [("lr", N + 200 + k, 0.25 + k / 1e3) for k in range(1, 501)])
                    if sum(len(m["rows"]) for m in messages) >= 200 + 2 and messages[-1].get("thinned"):
                        break
        assert len(messages[0]["rows"]) == 200 and "thinned" not in messages[0]
        live = [row for m in messages[1:] for row in m["rows"]]
        assert len(live) < 500 and live[-1][2] == N + 700 and messages[-1]["thinned"] == ["lr"]
        store.close()
    finally:
        dash.close()
