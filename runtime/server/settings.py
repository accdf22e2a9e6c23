"""The server's own settings (address, access, upload limits), beside the runtime's
(:class:`runtime.options.RuntimeConfig`), with the rules that make it safe by default."""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass

LOOPBACK_NAMES = ("localhost",)


class SettingsError(ValueError):
    """Settings that would be unsafe or cannot work; the message says what to pass instead."""


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None  # required on every route when set
    no_auth: bool = False  # serve a non-loopback address without a token (warned)
    cors: tuple[str, ...] = ()  # origins allowed to call the API from a browser
    max_upload_mb: float = 20.0
    max_pixels_mp: float = 40.0  # megapixels, checked from the header before decoding
    queue: int = 8  # /analyze requests admitted at once (running or waiting); more get 503
    workers: int = 1  # analysers for /analyze, each with its own models
    upload_timeout: float = 10.0  # seconds a client may pause while sending a body
    jpeg_quality: int = 80  # of the MJPEG stream and ?annotated=1

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_pixels(self) -> int:
        return int(self.max_pixels_mp * 1_000_000)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def check(self) -> None:
        """Refuse what would expose the camera to a network unguarded, or cannot work."""
        if self.token is not None and len(self.token) < 8:
            raise SettingsError(
                "--token must be at least 8 characters (e.g. the output of `openssl rand -hex 16`)"
            )
        if self.token and self.no_auth:
            raise SettingsError("--token and --no-auth contradict each other; pass one of them")
        if not self.loopback and not self.token and not self.no_auth:
            raise SettingsError(
                f"--host {self.host} serves the camera to other machines: pass --token SECRET (checked on "
                "every request) or, on a network you trust, --no-auth"
            )
        for name, value in (("--max-upload-mb", self.max_upload_mb), ("--max-pixels", self.max_pixels_mp)):
            if value <= 0:
                raise SettingsError(f"{name} must be positive, not {value}")
        if self.queue < 1 or self.workers < 1:
            raise SettingsError("--queue and --workers must be at least 1")
        if not 0 < self.port < 65536:
            raise SettingsError(f"--port must be 1..65535, not {self.port}")

    def warnings(self) -> list[str]:
        if self.no_auth and not self.loopback:
            return [
                f"warning: --no-auth on {self.host}: anyone who can reach port {self.port} sees the camera "
                "and can use the API; pass --token SECRET instead"
            ]
        return []


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_serve_flags(p: argparse.ArgumentParser) -> None:
    d = ServeSettings()
    g = p.add_argument_group("server")
    g.add_argument("--host", default=d.host, help=f"address to bind (default {d.host}: this machine only)")
    g.add_argument("--port", type=int, default=d.port, help=f"port (default {d.port})")
    g.add_argument(
        "--token",
        default=None,
        metavar="SECRET",
        help="require this token on every route: header `Authorization: Bearer SECRET`, or `?token=SECRET` "
        "in the page's and the stream's address (needed to bind any address but loopback)",
    )
    g.add_argument(
        "--no-auth",
        action="store_true",
        help="serve a non-loopback --host without a token (a warning is printed)",
    )
    g.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser pages from ORIGIN (e.g. `http://laptop:3000`) to call the API; repeatable "
        "(default: none)",
    )
    g.add_argument(
        "--max-upload-mb", type=float, default=d.max_upload_mb, metavar="MB", help="largest body of /analyze"
    )
    g.add_argument(
        "--max-pixels",
        dest="max_pixels_mp",
        type=float,
        default=d.max_pixels_mp,
        metavar="MP",
        help="largest image of /analyze in megapixels, read from its header before decoding",
    )
    g.add_argument(
        "--queue",
        type=int,
        default=d.queue,
        metavar="N",
        help="/analyze requests in flight before 503 Retry-After",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=d.workers,
        metavar="N",
        help="analysers for /analyze (each loads the models)",
    )
    g.add_argument(
        "--upload-timeout",
        type=float,
        default=d.upload_timeout,
        metavar="S",
        help="seconds a client may stall while sending a body (then 408)",
    )


def settings_from_namespace(a: argparse.Namespace) -> ServeSettings:
    return ServeSettings(
        host=a.host,
        port=a.port,
        token=a.token,
        no_auth=a.no_auth,
        cors=tuple(a.cors),
        max_upload_mb=a.max_upload_mb,
        max_pixels_mp=a.max_pixels_mp,
        queue=a.queue,
        workers=a.workers,
        upload_timeout=a.upload_timeout,
    )
