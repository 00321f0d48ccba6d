"""Fault injection for the reliability tests: an HTTP archive that fails at random, and a
filesystem that runs out of space.

:class:`FaultyHTTPServer` serves a directory on loopback as NRL's archive server does (directory
listings, ``Range`` requests) and, for each request, with the probabilities given and a seeded
generator, answers ``503 Service Unavailable``, stalls (sends nothing for ``stall`` seconds) or
sends a truncated body (the full ``Content-Length``, part of the bytes, then closes). It counts
what it injected.

:class:`NoSpaceFileSystem` (fsspec protocol ``nospace``) is the local filesystem that raises
``OSError(ENOSPC)`` once more than ``limit`` bytes have been written through it, as a full disk
does, until :meth:`NoSpaceFileSystem.free` is called.
"""

from __future__ import annotations

import errno
import http.server
import os
import random
import socketserver
import threading
import time
import urllib.parse
from collections import Counter

from fsspec.implementations.local import LocalFileSystem

__all__ = ["FaultyHTTPServer", "NoSpaceFileSystem"]


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, *args):  # quiet
        pass

    def _fault(self) -> str | None:
        return self.server.draw()

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        fault = self._fault()
        if fault == "503":
            self.send_error(503, "Service Unavailable")
            return
        super().do_HEAD()

    def do_GET(self):  # noqa: N802
        fault = self._fault()
        if fault == "503":
            self.send_error(503, "Service Unavailable")
            return
        if fault == "stall":
            time.sleep(self.server.stall)
        path = self.translate_path(urllib.parse.urlsplit(self.path).path)
        if os.path.isdir(path):
            super().do_GET()
            return
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            self.send_error(404, "Not Found")
            return
        status, body = 200, data
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            first, _, last = ranged[6:].partition("-")
            start = int(first) if first else max(len(data) - int(last), 0)
            stop = int(last) + 1 if first and last else len(data)
            body, status = data[start:stop], 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/"
                                              f"{len(data)}")
        self.end_headers()
        if fault == "truncate" and len(body) > 16:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        """A client that hung up (after a stall or a cut body) is expected: no traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def draw(self) -> str | None:
        with self.lock:
            x = self.rng.random()
            for kind, p in self.faults.items():
                if x < p:
                    self.counts[kind] += 1
                    return kind
                x -= p
            self.counts["ok"] += 1
            return None


class FaultyHTTPServer:
    """Serve ``root`` on ``http://127.0.0.1:PORT/`` with random faults (module docstring).

    Parameters
    ----------
    root
        Directory to serve.
    p_503, p_stall, p_truncate
        Probability of each fault per request.
    stall
        Seconds a stalled answer waits before it starts (set the client's timeout below it).
    seed
        Seed of the fault draws.
    """

    def __init__(self, root, *, p_503: float = 0.0, p_stall: float = 0.0,
                 p_truncate: float = 0.0, stall: float = 3.0, seed: int = 0):
        directory = os.fspath(root)

        def handler(*args, **kwargs):
            return _Handler(*args, directory=directory, **kwargs)

        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.faults = {"503": p_503, "stall": p_stall, "truncate": p_truncate}
        self._server.rng = random.Random(seed)
        self._server.lock = threading.Lock()
        self._server.counts = Counter()
        self._server.stall = float(stall)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def counts(self) -> Counter:
        """Requests answered, by fault (``"ok"``, ``"503"``, ``"stall"``, ``"truncate"``)."""
        return Counter(self._server.counts)

    def set_faults(self, **probabilities: float) -> None:
        """Change the fault probabilities (e.g. all to 0 for a clean resume)."""
        with self._server.lock:
            for name, p in probabilities.items():
                self._server.faults[name.removeprefix("p_")] = float(p)

    def __enter__(self) -> FaultyHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class NoSpaceFileSystem(LocalFileSystem):
    """The local filesystem with a disk that fills up (module docstring); ``nospace://`` URLs.

    ``limit`` and the bytes written are class attributes, shared by every instance (zarr and
    fsspec make their own): set :attr:`limit`, run, then :meth:`free`.
    """

    protocol = "nospace"
    limit: int | None = None
    written = 0
    _lock = threading.Lock()

    @classmethod
    def free(cls) -> None:
        cls.limit, cls.written = None, 0

    @classmethod
    def _count(cls, n: int) -> None:
        with cls._lock:
            if cls.limit is not None and cls.written + n > cls.limit:
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
            cls.written += n

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith("nospace://"):
            path = path[len("nospace://"):]
        return super()._strip_protocol(path)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_mkdir", True)
        super().__init__(*args, **kwargs)

    def open(self, path, mode="rb", **kwargs):
        handle = super().open(path, mode, **kwargs)
        if "w" in mode or "a" in mode:
            write = handle.write

            def counted(data):
                self._count(len(data))
                return write(data)

            handle.write = counted
        return handle
