"""Re-take docs/img/dashboard.png: two short runs (mini-batch vs full batch), overlaid.

    python docs/img/dashboard_screenshot.py      # needs chromium and Playwright, ~30 s
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from learnsys.ui.launch import start_dashboard

OUT = Path(__file__).with_name("dashboard.png")
COMMON = ["--data", "synthetic-linear", "--data-args", "size=400", "features=1", "noise=0.8", "--dev", "0.2",
          "--steps", "600", "--lr", "0.02", "--checkpoint-every", "200", "--no-ui", "--quiet"]

runs = Path(tempfile.mkdtemp()) / "runs"
for run_id, batch in (("full-batch", "full"), ("mini-batch", "16")):
    subprocess.run([sys.executable, "-m", "learnsys", "train", *COMMON, "--batch-size", batch, "--run-id", run_id,
                    "--runs-dir", str(runs)], check=True, capture_output=True)
dash = start_dashboard(str(runs))
try:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 760}, locale="en-US")
        page.goto(dash.url + "#run=mini-batch&compare=full-batch")
        page.wait_for_function("() => window.learnsysDebug && window.learnsysDebug.ready")
        page.wait_for_function("() => window.learnsysDebug.chartSeries('loss').length >= 3")
        page.wait_for_timeout(500)
        page.screenshot(path=str(OUT))
        browser.close()
finally:
    dash.close()
    shutil.rmtree(runs.parent, ignore_errors=True)
print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")
