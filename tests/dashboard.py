"""Start the real dashboard (``streamlit run app.py``) on a free local port, for the browser tests
and for ``bench/bench_pages.py``; and the headless Chromium they drive (the system's, never a
downloaded one)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(env: dict[str, str], log: Path, *, timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """Start the dashboard with ``env`` added to this process's, logging to ``log``; returns the
    process and its URL once it answers its health check.

    Raises
    ------
    RuntimeError
        It exited or did not answer within ``timeout`` seconds (the message ends with its log).
    """
    port = free_port()
    with log.open("w") as out:  # the server keeps its own copy of the handle
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.read().strip() == b"ok":
                    return server, url
        except OSError:
            pass
        time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"streamlit did not start:\n{log.read_text()[-2000:]}")


def stop_dashboard(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)
