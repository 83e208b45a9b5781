"""Fuzz every dashboard route (hypothesis) against a real `learnsys ui` process on 127.0.0.1:
random run ids, integers of any length, ranges, headers and bodies. No answer is a 5xx
(except a 503 that names the store or the worker, which a healthy store never gives), and
the server's log (dashboard.log: uvicorn, the app and the predict worker) holds no traceback.
Bounded: a fixed number of examples, each request with a timeout."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnsys.store import STORE_FILENAME, RunStore
from learnsys.ui.launch import start_dashboard

pytestmark = pytest.mark.slow

ROUTES = ["/", "/api/health", "/api/runs", "/api/runs/{id}", "/api/runs/{id}/metrics", "/api/runs/{id}/events",
          "/api/runs/{id}/series", "/api/runs/{id}/csv", "/api/runs/{id}/stream", "/api/runs/{id}/artifacts",
          "/api/runs/{id}/artifacts/{name}", "/api/runs/{id}/predict", "/static/app.js", "/static/{name}",
          "/static/lectures.js", "/static/lectures/{name}", "/api/{name}"]
PARAMS = ["after", "start", "stop", "width", "beta", "name", "last_id", "thin", "token", "token"]
SAFE_TEXT = st.characters(min_codepoint=32, max_codepoint=126)
TOKEN = "fuzz-token-1234"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("fuzz") / "runs"
    subprocess.run([sys.executable, "-m", "learnsys", "train", "--steps", "20", "--no-ui", "--quiet",
                    "--runs-dir", str(runs), "--run-id", "t1"], check=True, capture_output=True, timeout=120)
    store = RunStore(runs / STORE_FILENAME)
    store.create_run("r1", kind="train", spec={}, folder=str(runs / "r1"), status="running")
    store.append_metrics("r1", [(n, s, math.nan if s == 7 else 1.0 / s) for s in range(1, 301)
                                for n in ("train/loss", "lr")])
    store.add_event("r1", 5, "checkpoint", "Checkpoint.", {"x": 1})
    store.put_artifact("r1", "search", {"w": [1]})
    store.close()
    dash = start_dashboard(str(runs), port=_free_port())
    # A second server with a token over the same runs: the token, cookie and header parsing too.
    # (Its output goes to the same dashboard.log.)
    guarded = start_dashboard(str(runs), port=_free_port(), token=TOKEN)
    try:
        yield dash.url.rstrip("/"), runs, guarded.url.split("?")[0].rstrip("/")
    finally:
        guarded.close()
        dash.close()


integers = st.one_of(
    st.integers(-10**6, 10**6), st.integers(-2**70, 2**70), st.integers(-10**30, 10**30),
    st.sampled_from([2**63 - 1, 2**63, -2**63, -2**63 - 1, 10**20, 0, -1]),
    st.integers(1, 6000).map(lambda n: "9" * n), st.integers(1, 400).map(lambda n: "-" + "1" * n),
).map(str)
values = st.one_of(integers, st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.text(SAFE_TEXT, max_size=30), st.sampled_from(["", "1e999", "nan", "0x10", " 5", "1_000", TOKEN]))
known_ids = st.sampled_from(["r1", "t1"])
run_ids = st.one_of(known_ids, known_ids, known_ids,
                    st.sampled_from(["s1", "..", ".", "-x", "a" * 200, "r1..x", "learnsys.sqlite"]), st.text(max_size=40))
numbers = st.one_of(st.integers(-2**80, 2**80), st.floats(allow_nan=False, allow_infinity=False),
                    st.integers(300, 4000).map(lambda n: 10**n), st.booleans(), st.none(), st.text(max_size=5))
json_values = st.recursive(numbers, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                            st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                           max_leaves=30)
bodies = st.one_of(
    st.builds(lambda rows: json.dumps({"rows": rows}).encode(), st.lists(st.lists(numbers, max_size=4), max_size=4)),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.integers(1, 120_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 6000).map(lambda n: b'{"rows": [[' + b"7" * n + b"]]}"),
    st.just(b'{"rows": [[4.0], [5.0]]}'), st.just(b'{"rows": [[1.0, 2.0]]}'),
)
headers = st.dictionaries(
    st.sampled_from(["Last-Event-ID", "Last-Event-ID", "Cookie", "Authorization", "Content-Type", "Accept", "Range",
                     "If-None-Match", "X-Forwarded-For", "Origin"]),
    st.one_of(integers, st.text(SAFE_TEXT, max_size=60),
              st.sampled_from(["application/json", "text/plain", "localhost:1", "evil.example", "[::1]:5",
                               "bytes=0-1", "bytes=99999999999999999999-", "learnsys_token_1=\"x",
                               f"Bearer {TOKEN}", "Bearer ", f"bearer {TOKEN}x", f"learnsys_token_0={TOKEN}"])),
    max_size=4)


@st.composite
def requests(draw):
    route = draw(st.sampled_from(ROUTES))
    path = route.replace("{id}", quote(draw(run_ids), safe="")).replace("{name}", quote(draw(st.text(max_size=20)),
                                                                                          safe=""))
    query = draw(st.lists(st.tuples(st.one_of(st.sampled_from(PARAMS), st.text(SAFE_TEXT, max_size=8)), values),
                          max_size=5))
    if route.endswith("predict"):
        method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT"]))
    else:
        method = draw(st.sampled_from(["GET"] * 12 + ["POST", "DELETE", "PUT", "HEAD", "OPTIONS"]))
    body = draw(bodies) if method in ("POST", "PUT") else b""
    hdrs = draw(headers)
    if method == "POST" and draw(st.integers(0, 4)):
        hdrs["Content-Type"] = "application/json"
    if draw(st.integers(0, 9)) == 7:  # now and then a foreign or odd Host (421)
        hdrs["Host"] = draw(st.sampled_from(["evil.example", "localhost:1", "[::1]:5", "127.0.0.1", "", "a:b:c"]))
    return method, path + ("?" + urlencode(query) if query else ""), hdrs, body


def test_no_route_answers_5xx_or_logs_a_traceback(server):
    open_base, runs, token_base = server
    seen: dict[int, int] = {}
    with httpx.Client(timeout=30) as client:

        @settings(max_examples=400, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(requests(), st.sampled_from(["open", "token", "token, authorized"]))
        def check(request, server_kind):
            method, path, hdrs, body = request
            base = open_base if server_kind == "open" else token_base
            if server_kind.endswith("authorized"):
                hdrs = {**hdrs, "Authorization": f"Bearer {TOKEN}"}
            try:
                with client.stream(method, base + path, headers=hdrs, content=body) as r:
                    status = r.status_code
                    text = next(r.iter_bytes(), b"")[:2000].decode("utf-8", "replace")
            except httpx.LocalProtocolError:  # the client itself refuses to send this request
                return
            seen[status] = seen.get(status, 0) + 1
            assert status < 500 or (status == 503 and "learnsys doctor" not in text and "worker" in text), \
                (method, path[:200], hdrs, body[:100], status, text[:300])
            assert "Traceback" not in text

        check()
    time.sleep(0.5)  # let the log catch up
    log = (runs / "dashboard.log").read_text(errors="replace")
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    assert seen.get(200, 0) > 20 and sum(n for s, n in seen.items() if 400 <= s < 500) > 100, seen
    assert httpx.get(open_base + "/api/health").json()["ok"] is True


def test_predict_bodies_never_give_5xx(server):
    """predict is the one route that parses a body and runs a model: random JSON and bytes,
    numbers of any size and depth, to a trained run and to one without a model."""
    base, runs, _ = server
    seen: dict[int, int] = {}
    with httpx.Client(timeout=60) as client:
        ok = client.post(f"{base}/api/runs/t1/predict", json={"rows": [[4.0], [5.0]]})
        assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2

        @settings(max_examples=200, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(st.sampled_from(["t1", "t1", "t1", "r1"]), bodies)
        def check(run_id, body):
            r = client.post(f"{base}/api/runs/{run_id}/predict", content=body,
                            headers={"content-type": "application/json"})
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
            assert r.status_code in (200, 400, 404, 409, 413, 422), (body[:100], r.status_code, r.text[:300])
            error = r.json().get("error", "")
            assert "\n" not in error and "Traceback" not in error

        check()
    log = (runs / "dashboard.log").read_text(errors="replace")
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    assert seen.get(400, 0) > 50 and seen.get(200, 0) + seen.get(422, 0) > 5, seen
