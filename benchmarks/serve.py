"""The server under load: ``/analyze`` latency, the live loop's frame rate with and without
viewers, memory before and after.

``python -m benchmarks.serve`` (60 s of load by default) starts ``edge-face serve --source
demo`` on 127.0.0.1, then: the loop alone; the loop with 4 MJPEG viewers; 8 concurrent
``/analyze`` clients (a real photo each time) plus the 4 viewers. It writes
benchmarks/results/serve.{json,md}. The tests drive the same code for a few seconds.

The launcher and the HTTP helpers here are the tests' too (tests/lean/test_serve*.py): one
way to start, reach and stop a server.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.frontier import cpu_name
from runtime.markdown import table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class ServerProcess:
    """``python -m runtime serve`` on a free port of 127.0.0.1, stopped on leaving the block."""

    def __init__(
        self,
        *args: str,
        token: str | None = None,
        log: Path | None = None,
        command: tuple[str, ...] = (sys.executable, "-m", "runtime"),
        cwd: Path = ROOT,
    ) -> None:
        """``command``: what runs ``serve`` (this checkout's runtime, or an installed ``edge-face``)."""
        self.port = free_port()
        self.token = token
        self.args = [*args, *(["--token", token] if token else [])]
        self.log_path = log
        self.command, self.cwd = command, cwd
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        cmd = [*self.command, "serve", "--host", HOST, "--port", str(self.port), *self.args]
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {self.log()}")
            try:
                if self.get("/healthz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the server did not answer /healthz within {timeout:.0f} s: {self.log()}")

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace")[-2000:]
            if self.log_path and self.log_path.exists()
            else ""
        )

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc")

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**h, **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
        auth: bool = True,
    ) -> Reply:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=self.headers(headers) if auth else (headers or {}))
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def analyze(self, image: bytes, content_type: str = "application/octet-stream", query: str = "") -> Reply:
        return self.request("POST", "/analyze" + query, image, {"Content-Type": content_type})

    def open_stream(self, path: str, timeout: float = 30.0) -> http.client.HTTPResponse:
        """A streaming GET (/stream.mjpg, /events) whose response is read as it arrives."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        conn.request("GET", path, headers=self.headers())
        return conn.getresponse()


def mjpeg_frames(response: http.client.HTTPResponse):
    """The JPEG parts of a multipart/x-mixed-replace stream, as they arrive."""
    while True:
        line = response.readline()
        if not line:
            return
        if not line.startswith(b"--frame"):
            continue
        length = 0
        while (header := response.readline().strip()) != b"":
            name, _, value = header.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        yield response.read(length)


def sse_events(response: http.client.HTTPResponse):
    """The JSON of each ``data:`` line of an event stream, as it arrives."""
    while True:
        line = response.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            yield json.loads(line[6:])


@dataclass
class Load:
    seconds: float
    requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    viewer_frames: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # client-side failures (resets, timeouts)

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_ms or [0.0])
        return {
            "seconds": self.seconds,
            "requests": self.requests,
            "by_status": dict(sorted(self.by_status.items())),
            "answered_per_s": round(self.by_status.get("200", 0) / self.seconds, 2),
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "viewer_fps": [round(n / self.seconds, 1) for n in self.viewer_frames],
            "client_errors": self.errors[:5],
        }


def frames_done(server: ServerProcess) -> int:
    return server.get("/healthz").json()["source"]["frames"]


def loop_rate(server: ServerProcess, seconds: float) -> dict:
    """Frames the live loop delivered per second over ``seconds``, and its own capacity
    (1 / work per frame, as the page shows it)."""
    f0, t0 = frames_done(server), time.perf_counter()
    time.sleep(seconds)
    health = server.get("/healthz").json()["source"]
    return {
        "delivered_fps": round((health["frames"] - f0) / (time.perf_counter() - t0), 1),
        "capacity_fps": health["fps"],
    }


def drain(response: http.client.HTTPResponse) -> None:
    """Read a stream until it is closed (by us, or by the server)."""
    try:
        for _ in mjpeg_frames(response):
            pass
    except (OSError, ValueError, AttributeError):  # closed under the reader: http.client's way of saying so
        pass


def run_load(server: ServerProcess, image: bytes, seconds: float, clients: int = 8, viewers: int = 4) -> Load:
    """``clients`` threads posting ``image`` to /analyze back to back and ``viewers`` threads
    reading the MJPEG stream, for ``seconds``."""
    load = Load(seconds)
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    load.viewer_frames = [0] * viewers

    def client() -> None:
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                r = server.analyze(image, "image/jpeg")
            except OSError as e:
                with lock:
                    load.errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                load.requests += 1
                load.by_status[str(r.status)] = load.by_status.get(str(r.status), 0) + 1
                if r.status == 200:
                    load.latencies_ms.append((time.perf_counter() - t) * 1000)
            if r.status == 503:
                time.sleep(float(r.headers.get("retry-after", "1")) / 10)  # a polite but eager client

    def viewer(k: int) -> None:
        try:
            response = server.open_stream("/stream.mjpg")
            for _ in mjpeg_frames(response):
                load.viewer_frames[k] += 1
                if time.monotonic() >= stop:
                    break
            response.close()
        except OSError as e:
            with lock:
                load.errors.append(f"viewer: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    threads += [threading.Thread(target=viewer, args=(k,)) for k in range(viewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    return load


def photo() -> bytes:
    """The demo's portrait as a JPEG: a real face, as a client would send it."""
    import cv2

    from runtime.sources import ASSETS

    image = cv2.imread(str(ASSETS / "astronaut.png"))
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def benchmark(seconds: float, clients: int, viewers: int, phase_s: float) -> dict:
    image = photo()
    log = Path(tempfile.mkdtemp(prefix="bench-serve-")) / "server.log"  # quoted if the server fails
    with ServerProcess("--source", "demo", "--queue", str(clients), log=log) as server:
        time.sleep(2)  # past the first frames' warm-up
        rss_start = server.rss_mb()
        alone = loop_rate(server, phase_s)
        watched: dict = {}
        streams = [server.open_stream("/stream.mjpg") for _ in range(viewers)]
        readers = [threading.Thread(target=drain, args=(r,), daemon=True) for r in streams]
        for t in readers:
            t.start()
        watched = loop_rate(server, phase_s)
        for r in streams:
            r.close()
        f0, t0 = frames_done(server), time.perf_counter()
        load = run_load(server, image, seconds, clients, viewers)
        under_load = (frames_done(server) - f0) / (time.perf_counter() - t0)
        rss_end = server.rss_mb()
        after = server.get("/healthz")
    five_xx = {k: v for k, v in load.by_status.items() if k.startswith("5") and k != "503"}
    return {
        "command": f"python -m benchmarks.serve --seconds {seconds:g}",
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "source": "demo (640x480, 30 FPS, one face)",
        "image": "runtime/assets/astronaut.png as JPEG (512x512, one face)",
        "loop_alone": alone,
        "loop_with_viewers": {**watched, "viewers": viewers},
        "load": {**load.summary(), "clients": clients, "viewers": viewers},
        "loop_under_load_fps": round(under_load, 1),
        "unexpected_5xx": five_xx,
        "rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1)},
        "healthy_after": after.status == 200,
    }


def markdown(r: dict) -> str:
    load = r["load"]
    rows = [
        [
            "live loop alone",
            f"{r['loop_alone']['delivered_fps']}",
            f"{r['loop_alone']['capacity_fps']}",
            "",
            "",
            "",
        ],
        [
            f"loop + {r['loop_with_viewers']['viewers']} MJPEG viewers",
            f"{r['loop_with_viewers']['delivered_fps']}",
            f"{r['loop_with_viewers']['capacity_fps']}",
            "",
            "",
            "",
        ],
        [
            f"{load['clients']} /analyze clients + {load['viewers']} viewers, {load['seconds']:g} s",
            f"{r['loop_under_load_fps']}",
            "",
            f"{load['answered_per_s']}",
            f"{load['p50_ms']} / {load['p95_ms']}",
            ", ".join(f"{k}: {v}" for k, v in load["by_status"].items()),
        ],
    ]
    lines = [
        "# edge-face serve under load",
        "",
        f"`{r['command']}` on {r['cpu']} ({r['cores']} cores). Live source: {r['source']}; "
        f"/analyze image: {r['image']}.",
        "",
        *table(
            [
                "phase",
                "loop FPS delivered",
                "loop FPS capacity",
                "/analyze answered/s",
                "p50 / p95 ms",
                "statuses",
            ],
            rows,
            "lrrrrl",
        ),
        "",
        f"Viewers' frames per second under load: {', '.join(str(v) for v in load['viewer_fps'])}. "
        f"Server memory (RSS): {r['rss_mb']['start']} MB at the start, "
        f"{r['rss_mb']['end']} MB after the load. "
        f"5xx other than the intended 503: {r['unexpected_5xx'] or 'none'}; "
        f"healthy after: {'yes' if r['healthy_after'] else 'NO'}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from runtime.card import atomic_write_bytes
    from runtime.cli import OneLineParser

    p = OneLineParser(prog="python -m benchmarks.serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the full-load phase")
    p.add_argument("--clients", type=int, default=8, help="concurrent /analyze clients")
    p.add_argument("--viewers", type=int, default=4, help="MJPEG viewers")
    p.add_argument("--phase", type=float, default=10.0, help="seconds of each loop-rate phase")
    p.add_argument("--output", type=Path, default=RESULTS / "serve", help="stem of the .json and .md written")
    a = p.parse_args(argv)
    r = benchmark(a.seconds, a.clients, a.viewers, a.phase)
    atomic_write_bytes(a.output.with_suffix(".json"), (json.dumps(r, indent=2) + "\n").encode())
    md = markdown(r)
    atomic_write_bytes(a.output.with_suffix(".md"), md.encode())
    print(md)
    return 0 if r["healthy_after"] and not r["unexpected_5xx"] else 1


if __name__ == "__main__":
    sys.exit(main())
