"""Starting the dashboard: in the foreground (`learnsys ui`) or as a child process (`train`).

    dash = start_dashboard("runs")            # spawns `python -m learnsys ui ...`, waits until it answers
    print(dash.url)                           # http://127.0.0.1:8765/
    ...
    dash.close()                              # or dash.wait(): until Ctrl-C or the server ends

The training process runs the server in its own process, so a crash of the server never
hurts training; the child watches its parent and exits when the parent is gone (even after
`kill -9`), so no orphan keeps the port. Without an explicit port, the first free port from
8765 is used; an explicit port that is in use is one clear LearnsysError line. A host other
than loopback gets a generated token unless one is given.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import LearnsysError
from .security import is_loopback

DEFAULT_PORT = 8765
PORT_TRIES = 50
START_TIMEOUT_S = 20.0
WATCH_PARENT_ENV = "LEARNSYS_UI_PARENT_PID"


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (the way uvicorn will bind it)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise LearnsysError(f"Cannot listen on {host}:{port}: {e.strerror}. Check --host.") from None
    return False


def choose_port(host: str, port: int | None) -> int:
    """The explicit port if it is free (else one clear error), or the first free one from 8765."""
    if port is not None:
        if not 0 < port < 65536:
            raise LearnsysError(f"Invalid port {port}: use 1..65535.")
        if port_in_use(host, port):
            raise LearnsysError(f"Port {port} on {host} is in use: pick another with --port, "
                                "or leave --port out to use the next free one.")
        return port
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + PORT_TRIES):
        if not port_in_use(host, candidate):
            return candidate
    raise LearnsysError(f"No free port in {DEFAULT_PORT}..{DEFAULT_PORT + PORT_TRIES - 1} on {host}: "
                        "pass one with --port.")


def resolve_token(host: str, token: str | None) -> str | None:
    """A token is required off loopback: the given one, else a generated one."""
    if token is not None:
        if len(token) < 8 or not token.isascii() or any(c in token for c in " ;,&?#=\"'"):
            raise LearnsysError("The dashboard token must be at least 8 characters, ASCII, without spaces or "
                                "any of ;,&?#=\"' (or leave --token out to generate one).")
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(18)


def dashboard_url(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(runs_dir: str, host: str = "127.0.0.1", port: int | None = None, token: str | None = None,
          *, announce=print) -> int:
    """Run the dashboard in this process until Ctrl-C (the `learnsys ui` verb)."""
    import uvicorn

    from .app import create_app

    token = resolve_token(host, token)
    port = choose_port(host, port)
    app = create_app(runs_dir, token=token, host=host, warm=True)
    _watch_parent()
    announce(f"learnsys dashboard: {dashboard_url(host, port, token)}  (runs in {Path(runs_dir).resolve()}; "
             "Ctrl-C stops it)")
    config = uvicorn.Config(app, host=host.strip("[]"), port=port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind (a race with another program)
        server.started = False
    if not server.started:
        raise LearnsysError(f"The dashboard could not listen on {host}:{port} (in use?): pick another with --port.")
    return 0


def _watch_parent() -> None:
    """Exit when the process that started us is gone (set by start_dashboard)."""
    parent = os.environ.get(WATCH_PARENT_ENV)
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="learnsys-ui-parent-watch", daemon=True).start()


class Dashboard:
    """A dashboard server running in a child process."""

    def __init__(self, process: subprocess.Popen, url: str, log_path: Path):
        self.process = process
        self.url = url
        self.log_path = log_path

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait(self) -> None:
        try:
            self.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def __enter__(self) -> "Dashboard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_dashboard(runs_dir: str, host: str = "127.0.0.1", port: int | None = None,
                    token: str | None = None) -> Dashboard:
    """Spawn `python -m learnsys ui ...` and return once it answers (see the module docstring)."""
    token = resolve_token(host, token)
    explicit = port is not None
    runs = Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    log_path = runs / "dashboard.log"
    for _ in range(3 if not explicit else 1):
        chosen = choose_port(host, port)
        cmd = [sys.executable, "-m", "learnsys", "ui", "--runs-dir", str(runs), "--port", str(chosen), "--host", host]
        if token:
            cmd.append(f"--token={token}")   # one word: a generated token may start with '-'
        env = {**os.environ, WATCH_PARENT_ENV: str(os.getpid())}
        with open(log_path, "ab") as log:
            process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                       start_new_session=True)  # Ctrl-C in the terminal goes to the trainer
        url = dashboard_url(host, chosen, token)
        if _wait_ready(process, url, token):
            return Dashboard(process, url, log_path)
        if process.poll() is None:
            Dashboard(process, url, log_path).close()
            raise LearnsysError(f"The dashboard did not answer on {url} within {START_TIMEOUT_S:.0f} s; "
                                f"see {log_path}.")
        if explicit:
            break
    raise LearnsysError(f"The dashboard could not start on {host}:{port or chosen}: {_last_line(log_path)} "
                        f"(full log: {log_path}).")


def _wait_ready(process: subprocess.Popen, url: str, token: str | None) -> bool:
    health = url.split("?")[0] + "api/health"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(urllib.request.Request(health, headers=headers), timeout=1) as r:
                if r.status == 200:
                    return True
        except urllib.error.HTTPError as e:  # 503: the server is up, its store is damaged (the page says so)
            if e.code == 503:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    return False


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"
