"""Soak: many frames through the full pipeline; memory, file descriptors and FPS must stay flat.

``python -m benchmarks.soak --frames 50000`` (about 5 minutes here); the test suite runs
2,000 frames. Frames cycle through the demo clip; every frame is detected, classified,
tracked, drawn and logged as JSON lines, as in a real run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.frames import demo_frames
from runtime.cli import OneLineParser
from runtime.options import RuntimeConfig
from runtime.overlay import draw
from runtime.pipeline import Pipeline
from runtime.sinks import JsonLinesSink


def rss_mb() -> float:
    """Resident memory now (not the peak): /proc where there is one, else the peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def open_fds() -> int | None:
    for d in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(d):
            return len(os.listdir(d))
    return None


def soak(frames: int, warmup: int = 300, window: int = 500, classify_every: int = 1) -> dict:
    clip = demo_frames(240, (640, 480)).frames
    pipe = Pipeline(RuntimeConfig(show=False, classify_every=classify_every))
    samples = []
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, JsonLinesSink(Path(tmp) / "faces.jsonl") as sink:
        try:
            t_window = time.perf_counter()
            base_rss = base_fds = None
            for i in range(frames):
                canvas = clip[i % len(clip)].copy()
                result = pipe.process(canvas, i, i / 30.0)
                draw(canvas, result)
                sink.write(result)
                if i + 1 == warmup:
                    base_rss, base_fds = rss_mb(), open_fds()
                if (i + 1) % window == 0:
                    now = time.perf_counter()
                    samples.append(
                        {
                            "frame": i + 1,
                            "rss_mb": round(rss_mb(), 2),
                            "fds": open_fds(),
                            "fps": round(window / (now - t_window), 1),
                        }
                    )
                    t_window = now
        finally:
            pipe.close()
        lines = sink.lines
    after = [s for s in samples if s["frame"] > warmup]
    fps = [s["fps"] for s in after] or [0.0]
    return {
        "frames": frames,
        "warmup": warmup,
        "json_lines": lines,
        "rss_after_warmup_mb": round(base_rss or 0.0, 2),
        "rss_end_mb": samples[-1]["rss_mb"] if samples else None,
        "rss_growth_mb": round(max(s["rss_mb"] for s in after) - base_rss, 2)
        if after and base_rss is not None
        else None,
        "fds_after_warmup": base_fds,
        "fds_end": samples[-1]["fds"] if samples else None,
        "fps_min": min(fps),
        "fps_max": max(fps),
        "fps_mean": round(sum(fps) / len(fps), 1),
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m benchmarks.soak", description=__doc__)
    p.add_argument("--frames", type=int, default=50_000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--window", type=int, default=1000, help="frames per sample")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    result = soak(a.frames, a.warmup, a.window)
    text = json.dumps(result, indent=2)
    if a.json:
        a.json.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    ok = (result["rss_growth_mb"] or 0) < 10 and result["fds_end"] == result["fds_after_warmup"]
    print(
        f"soak {'passed' if ok else 'FAILED'}: memory growth {result['rss_growth_mb']} MB after "
        f"warm-up (limit 10), fds {result['fds_after_warmup']} -> {result['fds_end']}, FPS "
        f"{result['fps_min']}-{result['fps_max']}",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
