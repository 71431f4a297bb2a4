"""Shared by the book tests: one build of the book per test session, served on localhost."""

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JB = Path(sys.executable).parent / "jupyter-book"


@pytest.fixture(scope="session")
def html(tmp_path_factory) -> Path:
    """Build the book with warnings as errors and nitpicky references; return its html folder."""
    if not JB.exists():
        pytest.fail(f"jupyter-book is not installed next to {sys.executable}")
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [str(JB), "build", str(ROOT), "--all", "-W", "-n", "--keep-going", "--path-output", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def served(html):
    """Serve the built book on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
