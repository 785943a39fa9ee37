"""Run a fake source system as a real HTTP server on loopback, in a thread or from the CLI.

Faults can be queued to prove the connectors' failure handling over real HTTP: a 500, a hang
past the client's timeout, a malformed (truncated) body.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import BadRequest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]
# What a handler hits on input it cannot read (werkzeug's BadRequest: get_json on bad JSON).
MALFORMED = (ValueError, TypeError, KeyError, IndexError, AttributeError, BadRequest)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request


@dataclass
class Fault:
    kind: str  # "http500" | "hang" | "malformed"
    count: int = 1
    path: str = ""  # only requests whose path starts with this
    seconds: float = 5.0


class FaultyApp:
    """WSGI app wrapping a handler with queued faults and a request log."""

    def __init__(self, handler: Handler, refuse: Callable[[Exception], Response] | None = None):
        self.handler = handler
        # A vendor answers malformed input (a body that is not JSON or not an object, a page
        # size that is not a number) with its own error envelope, never a crash page: `refuse`
        # builds that answer from the error the handler hit. Without it, the crash stays a 500.
        self.refuse = refuse
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()

    def inject(self, kind: str, count: int = 1, path: str = "", seconds: float = 5.0) -> None:
        with self.lock:
            self.faults.append(Fault(kind, count, path, seconds))

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and path.startswith(fault.path):
                    fault.count -= 1
                    return fault
        return None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        with self.lock:
            self.requests.append((request.method, request.path))
        fault = self._take_fault(request.path)
        if fault is not None:
            if fault.kind == "hang":
                time.sleep(fault.seconds)
            elif fault.kind == "http500":
                return Response("Internal Server Error", status=500)(environ, start_response)
            elif fault.kind == "malformed":
                body = '{"jsonrpc": "2.0", "result": [{"id": 1,'
                return Response(body, content_type="application/json")(environ, start_response)
        try:
            response = self.handler(request)
        except MALFORMED as exc:
            if self.refuse is None:
                raise
            response = self.refuse(exc)
        return response(environ, start_response)


class Served:
    """A fake running on 127.0.0.1 in a daemon thread; `url` is its base URL."""

    def __init__(self, app: FaultyApp, port: int = 0) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_forever(app: FaultyApp, port: int, banner: str) -> None:
    server = make_server("127.0.0.1", port, app, threaded=True)
    print(f"{banner} on http://127.0.0.1:{server.server_port} (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
