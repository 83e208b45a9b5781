"""The dashboard in an iframe (a Jupyter notebook shows it so): real Chromium loads it inside
pages served from loopback origins on another port (127.0.0.1, localhost), and refuses it
inside a page from any other origin (here `evil.test`, which Chromium is told resolves to
127.0.0.1, so only the origin differs). The header alone is checked in test_ui_api.py."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from learnsys.store import STORE_FILENAME, RunStore
from learnsys.ui.launch import start_dashboard

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP evil.test 127.0.0.1"]

if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (.ci/run installs it)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dashboard_frame(page, timeout: float = 20.0):
    """The iframe's Frame once its navigation settled, and whether the dashboard rendered in it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = [f for f in page.frames if f is not page.main_frame]
        if frames:
            frame = frames[0]
            try:
                if frame.evaluate("() => !!document.querySelector('script[src=\"static/app.js\"]')"):
                    return frame, True
                if frame.url.startswith("chrome-error:") or "chromewebdata" in frame.url:
                    return frame, False
            except Exception:  # the frame is navigating: ask again
                pass
        time.sleep(0.1)
    return None, False


def test_loopback_pages_may_frame_the_dashboard_and_others_may_not(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    runs = tmp_path / "runs"
    store = RunStore(runs / STORE_FILENAME)
    store.create_run("r1", kind="train", spec={}, status="finished")
    store.close()
    dash_port = _free_port()
    dash = start_dashboard(str(runs), port=dash_port)
    site = tmp_path / "site"
    site.mkdir()
    (site / "notebook.html").write_text(
        f'<!doctype html><title>notebook</title><iframe src="http://127.0.0.1:{dash_port}/" width="900" '
        'height="600"></iframe>\n')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    outer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=outer.serve_forever, daemon=True)
    serving.start()
    port = outer.server_address[1]
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        results = {}
        for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://evil.test:{port}"):
            page = browser.new_page()
            refused = []  # also catches "does not support the source expression": every source must be valid
            page.on("console", lambda m: refused.append(m.text) if "frame-ancestors" in m.text else None)
            page.goto(f"{origin}/notebook.html")
            assert page.title() == "notebook"  # the outer page itself loaded from that origin
            _, rendered = _dashboard_frame(page)
            results[origin] = (rendered, bool(refused))
            page.close()
        assert results[f"http://127.0.0.1:{port}"] == (True, False)
        assert results[f"http://localhost:{port}"] == (True, False)
        assert results[f"http://evil.test:{port}"] == (False, True)  # refused by frame-ancestors
    finally:
        browser.close()
        pw.stop()
        outer.shutdown()
        dash.close()
