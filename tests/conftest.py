"""Shared fixtures: a local HTTP server standing in for the canonical download sites, the
``network`` mark for the tests that ask the package index (skipped, with the reason, offline),
and headless Chromium for the browser tests."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture(autouse=True)
def _record_verdicts(request, monkeypatch):
    """In the check tests, keep every verdict's message for the no-giveaway test."""
    if not request.module.__name__.startswith("test_checks"):
        return
    from labhelpers.checks import Verdict

    from giveaways import MESSAGES

    original = Verdict.message

    def message(self) -> str:
        text = original(self)
        MESSAGES.setdefault(request.module.__name__, []).append((self.title, text))
        return text

    monkeypatch.setattr(Verdict, "message", message)


# Debian's Chromium: Playwright's own browser download cannot be had here.
CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)


@functools.cache
def package_index_reachable() -> bool:
    """Whether pip's configured package index answers (a query, nothing downloaded)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", "pip", "--timeout", "10"],
            capture_output=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def pytest_ignore_collect(collection_path, config) -> bool | None:
    """With ``-m executed``, collect only the files that hold such checks: the others would
    import TensorFlow (10 s) only to be deselected."""
    if config.option.markexpr != "executed" or collection_path.suffix != ".py":
        return None
    return "pytest.mark.executed" not in collection_path.read_text(encoding="utf-8") or None


def pytest_collection_modifyitems(config, items) -> None:
    network = [item for item in items if "network" in item.keywords]
    if network and not package_index_reachable():
        skip = pytest.mark.skip(reason="the package index cannot be reached (no network)")
        for item in network:
            item.add_marker(skip)


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, str]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, mode = self.routes[self.path]
        if mode == "hang":
            threading.Event().wait(30)  # longer than any client timeout in the tests
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # "cut": promise the whole body, send half, hang up, as a dropped connection does
        self.wfile.write(body if mode == "ok" else body[: len(body) // 2])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server():
    """Serve ``routes`` (path -> (body, "ok" | "cut" | "hang")) on 127.0.0.1.

    Yields ``(base_url, routes, hits)``.
    """
    routes: dict[str, tuple[bytes, str]] = {}
    hits: list[str] = []
    handler = type("Handler", (_Handler,), {"routes": routes, "hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", routes, hits
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, driven by Playwright; skips the test where either is missing."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install -r requirements-dev.txt for the browser tests"
    )
    if CHROMIUM is None:
        pytest.skip("no Chromium: apt-get install chromium (or set CHROMIUM=path)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()
