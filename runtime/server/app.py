"""The ASGI application: the page, the MJPEG and event streams, ``/analyze``, health and
metrics, behind the access rules of :mod:`runtime.server.settings`.

Every error leaves as JSON ``{"error": "..."}`` with its status, never a traceback; no
route takes a path from the client (the page's files are a fixed set).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import replace
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from ..options import RuntimeConfig
from .live import Broadcast, LiveFrame, LiveView
from .metrics import ServerMetrics
from .settings import ServeSettings
from .stills import Busy, StillWorkers
from .uploads import Limits, UploadError, decode_image, image_bytes, read_body

log = logging.getLogger("edge_face.serve")
RETRY_AFTER_S = 1


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware: the token on every route (``Authorization: Bearer`` or ``?token=``),
    and each request counted by route and status."""

    def __init__(self, app: Any, token: str | None, metrics: ServerMetrics) -> None:
        self.app, self.token, self.metrics = app, token, metrics

    def _allowed(self, scope: MutableMapping[str, Any]) -> bool:
        if self.token is None:
            return True
        headers = dict(scope.get("headers") or [])
        given = ""
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        else:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def counted(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if self._allowed(scope):
                await self.app(scope, receive, counted)
            else:
                response = error(
                    401, "a missing or wrong token: send `Authorization: Bearer TOKEN` or ?token=TOKEN"
                )
                await response(scope, receive, counted)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(path, str(status["code"])).inc()


def live_page() -> bytes:
    """The page as one file: its style and script (kept apart in static/ for editing) inlined,
    so that a token in the page's address is all it needs, and nothing else is fetched."""
    static = resources.files(__package__).joinpath("static")
    html = static.joinpath("index.html").read_text(encoding="utf-8")
    css = static.joinpath("style.css").read_text(encoding="utf-8")
    js = static.joinpath("live.js").read_text(encoding="utf-8")
    html = html.replace('<link rel="stylesheet" href="style.css">', f"<style>\n{css}</style>")
    return html.replace('<script src="live.js"></script>', f"<script>\n{js}</script>").encode()


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise UploadError(400, f"Content-Length {value!r} is not a number of bytes")
    return int(value)


class Server:
    """The server's parts (the analysers, the live view, the metrics) and one method per
    route. The models and the source load in ``__init__``, so that a bad --model or --source
    fails in the caller (one line from the CLI), not inside the server's start-up."""

    def __init__(self, cfg: RuntimeConfig, settings: ServeSettings) -> None:
        self.settings = settings
        self.metrics = ServerMetrics()
        self.limits = Limits(settings.max_upload_bytes, settings.max_pixels, settings.upload_timeout)
        self.page = live_page()
        self.stills = StillWorkers(replace(cfg, source=None, show=False), settings.workers, settings.queue)
        try:
            self.live = LiveView(replace(cfg, show=False), self.metrics) if cfg.source is not None else None
        except BaseException:
            self.stills.close()
            raise
        self.broadcast: Broadcast | None = None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI):
        self.broadcast = Broadcast(asyncio.get_running_loop())
        if self.live is not None:
            self.live.start(self.broadcast)
        try:
            yield
        finally:
            self.broadcast.close()
            if self.live is not None:
                await asyncio.to_thread(self.live.stop)
            await asyncio.to_thread(self.stills.close)

    def live_view(self) -> LiveView:
        if self.live is None:
            raise HTTPException(404, "no live source: the server runs the API alone (start it with --source)")
        return self.live

    # -- routes

    def index(self) -> Response:
        return Response(
            self.page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    def healthz(self) -> dict:
        out: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "analyze_in_flight": self.stills.in_flight,
        }
        live = self.live
        if live is not None:
            out["source"] = {"name": live.source_name, "frames": live.frames, "fps": round(live.fps, 2)}
            out["source"]["stages_ms"] = live.stages()
            if live.error:
                out.update(status="degraded", error=live.error)
        return out

    def prometheus(self) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def _frames(
        self, kind: str, encode: Callable[[LiveFrame], Awaitable[bytes]]
    ) -> AsyncIterator[bytes]:
        """Each viewer's frames: always the newest, so a slow one skips (and counts) the rest."""
        assert self.broadcast is not None
        self.metrics.viewers.labels(kind).inc()
        try:
            last = 0
            while True:
                frame = await self.broadcast.next(last)
                if frame is None:
                    return
                if last and frame.seq > last + 1:
                    self.metrics.viewer_skipped.labels(kind).inc(frame.seq - last - 1)
                last = frame.seq
                yield await encode(frame)
        finally:
            self.metrics.viewers.labels(kind).dec()

    def stream(self) -> StreamingResponse:
        self.live_view()
        quality = self.settings.jpeg_quality

        async def part(frame: LiveFrame) -> bytes:
            jpeg = await asyncio.to_thread(frame.jpeg, quality)
            head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            return head + jpeg + b"\r\n"

        return StreamingResponse(
            self._frames("mjpeg", part),
            media_type="multipart/x-mixed-replace; boundary=frame",
            headers={"Cache-Control": "no-store"},
        )

    def events(self) -> StreamingResponse:
        live = self.live_view()

        async def line(frame: LiveFrame) -> bytes:
            event = {"source": live.source_name, **frame.event}
            return f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()

        return StreamingResponse(
            self._frames("events", line),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    async def analyze(self, request: Request, annotated: bool = False) -> Response:
        """One image (the raw body, or a form file): its faces in the JSON-line schema, or
        with ``?annotated=1`` the annotated JPEG."""
        try:
            admission = self.stills.admit()
        except Busy:
            return error(
                503,
                f"busy: {self.stills.limit} images are being analysed; retry in {RETRY_AFTER_S} s",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        t0 = time.perf_counter()
        with admission:
            try:
                body = await read_body(request.stream(), declared_length(request), self.limits)
                frame = decode_image(image_bytes(body, request.headers.get("content-type", "")), self.limits)
            except UploadError as e:
                return error(e.status, str(e))
            except ClientDisconnect:
                return error(400, "the client closed the connection before the whole image arrived")
            records, jpeg = await self.stills.analyze(frame, annotated, self.settings.jpeg_quality)
        self.metrics.analyze.observe(time.perf_counter() - t0)
        if jpeg is not None:
            return Response(jpeg, media_type="image/jpeg")
        h, w = frame.shape[:2]
        return JSONResponse({"width": w, "height": h, "faces": records})


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path}; the routes are {', '.join(ROUTES)}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error(exc.status_code, message, getattr(exc, "headers", None))


async def bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(x) for x in first.get("loc", ()))
    return error(422, f"{where}: {first.get('msg', 'invalid request')}")


async def internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error(500, f"internal error ({type(exc).__name__}); the server's log has the details")


ROUTES = ("GET /", "GET /stream.mjpg", "GET /events", "POST /analyze", "GET /healthz", "GET /metrics")


def create_app(cfg: RuntimeConfig, settings: ServeSettings) -> FastAPI:
    """The server for ``cfg`` (its ``source``, if any, is the live view) and ``settings``."""
    server = Server(cfg, settings)
    app = FastAPI(
        title="edge-face", version=__version__, lifespan=server.lifespan, docs_url=None, redoc_url=None
    )
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Exception, internal)
    app.add_api_route("/", server.index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/healthz", server.healthz, methods=["GET"])
    app.add_api_route("/metrics", server.prometheus, methods=["GET"])
    app.add_api_route("/stream.mjpg", server.stream, methods=["GET"])
    app.add_api_route("/events", server.events, methods=["GET"])
    app.add_api_route("/analyze", server.analyze, methods=["POST"], response_model=None)
    app.add_middleware(Guard, token=settings.token, metrics=server.metrics)
    if settings.cors:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.state.server = server
    return app
