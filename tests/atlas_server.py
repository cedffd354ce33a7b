"""A quiet HTTP server on 127.0.0.1 serving one folder, for tests of the atlas download path."""
from __future__ import annotations

import contextlib
import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requested: list[str] | None = None

    def log_message(self, format, *args):  # noqa: A002 - the base class names it so
        pass

    def send_head(self):
        if self.requested is not None:
            self.requested.append(self.path.lstrip("/"))
        return super().send_head()


@contextlib.contextmanager
def serve_folder(folder: str | Path, requested: list[str] | None = None) -> Iterator[str]:
    """Serve `folder` over HTTP on 127.0.0.1 (a free port) in a thread; yields the base URL
    (``http://127.0.0.1:PORT``, no trailing slash). The server stops when the block ends.
    When `requested` is given, the path of every GET or HEAD request is appended to it."""
    handler_class = type("_Handler", (_QuietHandler,), {"requested": requested})
    handler = functools.partial(handler_class, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (a port just bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
