"""``edge-face serve``: the runtime's settings and the server's, parsed into a running uvicorn."""

from __future__ import annotations

import argparse
import signal
import sys

from ..cli import OneLineParser
from ..options import add_options, add_profile, config_from_namespace, parse_with_profile

# The server owns its outputs (the page, the streams, the API): no window, no files.
NOT_SERVER_OPTIONS = frozenset({"show", "output", "json", "per_image", "max_frames", "fallback_to_demo"})
SERVE_HELP = (
    "serve the live view and the HTTP API: GET / (the page), /stream.mjpg, /events, /healthz, /metrics; "
    "POST /analyze. Without --source, the API alone"
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    from ..model_folder import tasks
    from .settings import add_serve_flags

    p = OneLineParser(prog=f"{prog} serve", description=SERVE_HELP)
    add_options(p, tasks(), exclude=NOT_SERVER_OPTIONS)
    add_profile(p)
    add_serve_flags(p)
    return p


def main(argv: list[str], prog: str) -> int:
    parser = build_parser(prog)
    a = parse_with_profile(parser, argv)
    try:
        import uvicorn

        from .app import create_app
        from .settings import SettingsError, settings_from_namespace
    except ImportError as e:
        print(
            f"error: the server needs the serve extras ({e.name} is missing): pip install 'edge-face[serve]' "
            "(in the repository: make setup-serve)",
            file=sys.stderr,
        )
        return 2
    from ..cli import runtime_errors

    settings = settings_from_namespace(a)
    try:
        settings.check()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for w in settings.warnings():
        print(w, file=sys.stderr)
    cfg = config_from_namespace(a, show=False)
    try:
        app = create_app(cfg, settings)
    except runtime_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    where = f"http://{settings.host}:{settings.port}/"
    print(
        f"serving on {where}" + (f" (live: {cfg.source})" if cfg.source is not None else " (API only)"),
        file=sys.stderr,
    )
    previous = signal.signal(signal.SIGTERM, _stop)  # uvicorn re-raises the signal once it has stopped
    try:
        server.run()
    except (KeyboardInterrupt, Stopped):
        print("stopped: every stream and request is closed", file=sys.stderr)
        return 0
    except OSError as e:  # the port is taken, or the address is not this machine's
        print(f"error: cannot serve on {settings.host}:{settings.port}: {e.strerror}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if server.started else 2


class Stopped(Exception):
    """SIGTERM, after uvicorn's graceful shutdown."""


def _stop(signum: int, frame: object) -> None:
    raise Stopped
