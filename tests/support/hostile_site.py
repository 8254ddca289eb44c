"""A loopback server that answers each path with scripted raw bytes, then hangs up.

For responses no well-behaved server sends (bodies that end early, stacked
Content-Encodings), which the sample site cannot be made to produce.
"""

from __future__ import annotations

import contextlib
import socketserver
import threading
from types import TracebackType

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def raw_response(
    body: bytes,
    *,
    content_type: str = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
    declared_length: int | None = None,
) -> bytes:
    """A 200 response; ``declared_length`` lies about the body's size when given."""
    lines = [
        "HTTP/1.1 200 OK",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body) if declared_length is None else declared_length}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request_line = self.rfile.readline(65536).decode("latin-1")
        while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
            pass
        parts = request_line.split()
        path = parts[1] if len(parts) > 1 else "/"
        with contextlib.suppress(OSError):  # the client gave up: a cap or a deadline did it
            self.wfile.write(self.server.answers.get(path, NOT_FOUND))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answers: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = answers


class HostileSite:
    """Serves ``answers`` (URL path -> raw response bytes) at :attr:`base_url`."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self._server = _Server(answers)
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileSite:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
