"""Shared fixtures: a local HTTP server standing in for the canonical download sites."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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
