"""A small HTTP service on 127.0.0.1 with scriptable faults, the base of the fake servers.

A fake (Sentinel Hub, a STAC API) subclasses :class:`FakeService`, registers routes and
answers as the real service does; a test scripts faults on it (500s, 429 with Retry-After,
stalls past the client's timeout, truncated bodies, 401) and reads the request log to check
what the client sent and when. Everything runs in one daemon thread per request, so a
stalled answer does not block the others; :meth:`FakeService.stop` ends every stall at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

FaultKind = Literal["status", "retry_after", "stall", "truncate", "unauthorized"]


@dataclass
class Fault:
    """One scripted fault, applied to the next ``times`` requests whose path starts with
    ``path`` (and whose method is ``method``, when given)."""

    kind: FaultKind
    path: str = "/"
    times: int = 1
    method: str | None = None
    status: int = 500
    #: Seconds sent in ``Retry-After`` (429); Sentinel Hub clients read the header as ms,
    #: so a fake may send ``retry_after_header`` verbatim instead.
    retry_after_s: float = 1.0
    retry_after_header: str | None = None
    #: Seconds to hold the connection before answering (stall) or before closing (truncate).
    stall_s: float = 30.0
    #: Fraction of the real body sent before the connection is closed.
    truncate_fraction: float = 0.5


@dataclass(frozen=True)
class Request:
    """What the fake received (the Authorization header is never stored)."""

    at: float
    method: str
    path: str
    query: str
    body: bytes
    authorized: bool
    fault: FaultKind | None


@dataclass
class Response:
    """A route's answer."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> Response:
        """A JSON answer."""
        return cls(status, json.dumps(payload).encode(), "application/json", dict(headers))

    @classmethod
    def ranged(cls, data: bytes, range_header: str | None,
               content_type: str = "application/octet-stream") -> Response:
        """A file answer honouring a single HTTP ``Range`` (what GDAL's /vsicurl/ needs).

        No ``Range``: 200 with the whole file. ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n``:
        206 with ``Content-Range``. A range starting past the end: 416. Several ranges (which
        GDAL does not ask for): 200 with the whole file, as RFC 9110 allows. HEAD requests
        get the same headers and no body (see :meth:`FakeService._send`).
        """
        total = len(data)
        headers = {"Accept-Ranges": "bytes"}
        spec = (range_header or "").strip()
        if not spec.startswith("bytes=") or "," in spec:
            return cls(200, data, content_type, headers)
        first, _, last = spec.removeprefix("bytes=").partition("-")
        try:
            if first == "":
                start, end = max(0, total - int(last)), total - 1
            else:
                start = int(first)
                end = min(int(last), total - 1) if last else total - 1
        except ValueError:
            return cls(200, data, content_type, headers)
        if start >= total or end < start:
            return cls(416, b"", content_type, {**headers, "Content-Range": f"bytes */{total}"})
        return cls(206, data[start:end + 1], content_type,
                   {**headers, "Content-Range": f"bytes {start}-{end}/{total}"})


Handler = Callable[["Call"], Response]


@dataclass(frozen=True)
class Call:
    """A request as a route handler sees it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


class FakeService:
    """Base of the fake services: routes, scripted faults and a request log.

    Use as a context manager; ``url`` is ``http://127.0.0.1:PORT`` once started.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[str, str, Handler]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.requests: list[Request] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ---------------------------------------------------------------------------
    def route(self, method: str, prefix: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path starts with ``prefix`` (longest prefix wins)."""
        self._routes.append((method.upper(), prefix, handler))
        self._routes.sort(key=lambda r: len(r[1]), reverse=True)

    def fail(self, fault: Fault) -> Fault:
        """Script a fault (applied in the order scripted)."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Forget every scripted fault not yet applied."""
        with self._lock:
            self._faults.clear()

    def is_authorized(self, call: Call) -> bool:
        """Whether a request carries valid credentials; subclasses check tokens."""
        return True

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the running service."""
        if self._server is None:
            raise RuntimeError("the fake service is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeService:
        """Listen on 127.0.0.1 on a free port."""
        service = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                service._dispatch(self)

            do_GET = do_POST = do_HEAD = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name=f"{type(self).__name__}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and release every stalled request."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling -------------------------------------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path) and fault.method in (None, method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        path, _, query = h.path.partition("?")
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        call = Call(h.command, path, query, {k.lower(): v for k, v in h.headers.items()}, body)
        fault = self._take_fault(h.command, path)
        authorized = self.is_authorized(call)
        with self._lock:
            self.requests.append(Request(time.monotonic(), h.command, path, query, body,
                                         authorized, fault.kind if fault else None))
        if fault is not None and fault.kind != "truncate":
            self._send(h, self._fault_response(fault))
            return
        handler = next((fn for m, prefix, fn in self._routes
                        if m == h.command or (m == "GET" and h.command == "HEAD")
                        if path.startswith(prefix)), None)
        if handler is None:
            response = Response.json({"error": f"no route for {h.command} {path}"}, 404)
        else:
            try:
                response = handler(call)
            except Exception as exc:  # a bug in a fake must show up as a 500, not a hang
                response = Response.json({"error": f"{type(exc).__name__}: {exc}"}, 500)
        if fault is not None:  # truncate: promise the whole body, send part, hang up
            self._stop.wait(min(fault.stall_s, 0.05))
            cut = int(len(response.body) * fault.truncate_fraction)
            self._send(h, response, body=response.body[:cut])
            h.close_connection = True
            return
        self._send(h, response)

    def _fault_response(self, fault: Fault) -> Response:
        if fault.kind == "stall":
            self._stop.wait(fault.stall_s)
            return Response.json({"error": "stalled"}, 504)
        if fault.kind == "unauthorized":
            return Response.json({"error": {"status": 401, "reason": "Unauthorized",
                                            "message": "Invalid client credentials"}}, 401)
        if fault.kind == "retry_after":
            header = fault.retry_after_header or f"{fault.retry_after_s:g}"
            return Response.json({"error": {"status": 429, "reason": "Too Many Requests"}},
                                 429, **{"Retry-After": header})
        return Response.json({"error": {"status": fault.status, "reason": "scripted fault"}},
                             fault.status)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, response: Response, body: bytes | None = None) -> None:
        payload = response.body if body is None else body
        try:
            h.send_response(response.status)
            h.send_header("Content-Type", response.content_type)
            h.send_header("Content-Length", str(len(response.body)))
            for key, value in response.headers.items():
                h.send_header(key, value)
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(payload)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer
