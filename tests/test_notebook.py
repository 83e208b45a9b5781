"""learnsys in a Jupyter notebook (issue 13), run in a real kernel through nbclient: fit with
the dashboard inline (an iframe to the live local server), the progress bar, a run's HTML
summary, warnings through the `learnsys` logger."""

from __future__ import annotations

import logging
import re
import time
import urllib.request

import pytest

import learnsys

pytestmark = pytest.mark.slow


def test_a_run_renders_as_a_small_html_summary_with_a_sparkline(runs_dir):
    run = learnsys.fit("linear", "lecture", epochs=40, runs_dir=runs_dir, run_id="h")
    page = run._repr_html_()
    assert "learnsys run h" in page and ">finished<" in page and "40 of 40" in page
    points = re.search(r'points="([^"]+)"', page).group(1).split()
    assert len(points) == 40   # one point per step: the loss falls, so the line ends at the bottom
    assert float(points[0].split(",")[1]) < float(points[-1].split(",")[1])


def test_warnings_go_through_the_learnsys_logger(runs_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="learnsys"):
        learnsys.fit("linear", "lecture", epochs=2, batch_size=10, runs_dir=runs_dir)
    assert any("larger than the 3 train rows" in r.getMessage() for r in caplog.records if r.name == "learnsys")


def test_fit_in_a_kernel_shows_the_live_dashboard_inline_and_the_run(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    runs = tmp_path / "runs"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"import learnsys\nrun = learnsys.fit('linear', 'lecture', epochs=300, "
                                  f"dashboard='inline', runs_dir={str(runs)!r}, run_id='nb')"),
        nbformat.v4.new_code_cell("run"),
        nbformat.v4.new_code_cell("import learnsys.notebook as n\nprint(n.in_notebook())"),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    first, second, third = (cell.outputs for cell in nb.cells)
    frames = [o for o in first if "text/html" in o.get("data", {}) and "<iframe" in o["data"]["text/html"]]
    assert frames, first
    src = re.search(r'src="([^"]+)"', frames[0]["data"]["text/html"]).group(1)
    assert src.startswith("http://127.0.0.1:") and src.endswith("#run=nb")
    bars = [o for o in first if o.get("name") == "stderr" or "application/vnd.jupyter.widget-view+json" in
            o.get("data", {})]
    assert bars, first  # the progress bar: a live widget (ipywidgets) or rich's text
    summary = next(o["data"]["text/html"] for o in second if "text/html" in o.get("data", {}))
    assert "learnsys run nb" in summary and ">finished<" in summary and "300 of 300" in summary
    assert third[0]["text"].strip() == "True"
    deadline = time.monotonic() + 20   # the dashboard was the kernel's child: it goes with the kernel
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(src.split("#")[0], timeout=2).close()
        except OSError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the kernel's dashboard {src} still answers 20 s after the kernel stopped")
