"""What ``GET /metrics`` reports, in Prometheus' text format: one registry per server (no
process-wide state, so two servers in one process, as in the tests, count apart)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# 1 ms .. 2.5 s: a stage of one frame, or one /analyze request on a slow machine.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.frames = Counter("edge_face_frames", "frames the live loop analysed", registry=r)
        self.faces = Counter(
            "edge_face_faces", "faces the live loop reported, summed over frames", registry=r
        )
        self.dropped = Counter(
            "edge_face_dropped_frames",
            "camera frames dropped because the loop was still busy with an older one (the newest wins)",
            registry=r,
        )
        self.viewer_skipped = Counter(
            "edge_face_viewer_skipped_frames",
            "frames a slow viewer never got because a newer one was ready when it asked",
            ["stream"],
            registry=r,
        )
        self.stage = Histogram(
            "edge_face_stage_seconds",
            "time per pipeline stage and frame",
            ["stage"],
            buckets=BUCKETS,
            registry=r,
        )
        self.analyze = Histogram(
            "edge_face_analyze_seconds", "POST /analyze, body read to answer", buckets=BUCKETS, registry=r
        )
        self.requests = Counter(
            "edge_face_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.viewers = Gauge("edge_face_viewers", "open streams", ["stream"], registry=r)
        self.fps = Gauge("edge_face_loop_fps", "the live loop's frames per second (smoothed)", registry=r)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage.labels(stage).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
