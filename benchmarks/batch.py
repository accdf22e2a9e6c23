"""Throughput of ``edge-face batch``: video seconds per wall second and frames per second, for
1 and 2 workers, on the local process pool and on a local Ray instance, and what each input
costs beyond its own analysis.

``python -m benchmarks.batch`` runs the batch CLI as a user does (a fresh output folder per
run, so nothing is skipped) over the real clips of ../shared/media (or, without them, clips
made from the demo portrait), then over many small photos for the per-input overhead. It
writes benchmarks/results/batch.{json,md}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from benchmarks.frontier import cpu_name
from runtime.markdown import table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MEDIA = ROOT.parent / "shared" / "media"


def clips(folder: Path) -> list[Path]:
    """The shared clips, or three clips of the portrait drifting (10 s each at 15 FPS)."""
    found = sorted(MEDIA.glob("*.mp4")) if MEDIA.is_dir() else []
    if found:
        return found
    portrait = cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.png"))
    out = []
    for k in range(3):
        path = folder / f"portrait_{k}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 15.0, (512, 512))
        for i in range(150):
            m = cv2.getRotationMatrix2D((256, 256), 0, 1.0)
            m[0, 2] = (i + 7 * k) % 40 - 20
            writer.write(cv2.warpAffine(portrait, m, (512, 512), borderMode=cv2.BORDER_REFLECT))
        writer.release()
        out.append(path)
    return out


def run_batch(inputs: list[Path], workers: int, ray: bool) -> dict:
    """One batch over ``inputs`` into a fresh folder: wall seconds, frames, video seconds."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "runtime", "batch", "--quiet", *map(str, inputs), "--output", str(out)]
        cmd += ["--workers", str(workers), *(["--ray", "auto"] if ray else [])]
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=1800)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"batch failed: {r.stderr[-1000:]}")
        rows = pq.read_table(out / "inputs.parquet").to_pylist()
    frames = sum(row["frames"] or 0 for row in rows)
    video_s = sum(row["duration"] or 0.0 for row in rows)
    return {
        "mode": "Ray (local instance)" if ray else "local pool",
        "workers": workers,
        "inputs": len(rows),
        "wall_s": round(wall, 2),
        "frames": frames,
        "video_s": round(video_s, 2),
        "video_s_per_wall_s": round(video_s / wall, 2),
        "fps": round(frames / wall, 1),
    }


def photos(folder: Path, n: int) -> list[Path]:
    """``n`` small photos (the portrait's face, 160x160): analysis is short, so what each input
    costs beyond it shows."""
    face = cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.png"))[30:190, 150:310]
    out = []
    for i in range(n):
        path = folder / f"face_{i:03d}.jpg"
        cv2.imwrite(str(path), cv2.flip(face, 1) if i % 2 else face)
        out.append(path)
    return out


def analysis_ms(image: Path, repeats: int = 20) -> float:
    """The in-process time of one still, as a worker analyses it (one thread per model)."""
    from runtime.api import Analyzer

    with Analyzer(parallel_tasks=False) as analyzer:
        analyzer.analyze_frame(image)
        t0 = time.perf_counter()
        for _ in range(repeats):
            analyzer.analyze_frame(image)
        return (time.perf_counter() - t0) / repeats * 1000


def benchmark(small: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-batch-media-") as tmp:
        videos = clips(Path(tmp))
        runs = [run_batch(videos, w, ray) for ray in (False, True) for w in (1, 2)]
        many = photos(Path(tmp), small)
        one = run_batch(many[:1], 1, False)
        lots = run_batch(many, 1, False)
        ray_one = run_batch(many[:1], 1, True)
        ray_lots = run_batch(many, 1, True)
        per_image = analysis_ms(many[0])
    per_input = (lots["wall_s"] - one["wall_s"]) / (small - 1) * 1000
    ray_per_input = (ray_lots["wall_s"] - ray_one["wall_s"]) / (small - 1) * 1000
    return {
        "command": "python -m benchmarks.batch",
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "videos": [p.name for p in videos],
        "runs": runs,
        "overhead": {
            "photos": small,
            "analysis_ms_per_photo": round(per_image, 1),
            "local_ms_per_input": round(per_input, 1),
            "local_overhead_ms_per_input": round(per_input - per_image, 1),
            "ray_ms_per_input": round(ray_per_input, 1),
            "ray_overhead_ms_per_input": round(ray_per_input - per_image, 1),
            "local_start_s": one["wall_s"],
            "ray_start_s": ray_one["wall_s"],
        },
    }


def markdown(r: dict) -> str:
    rows = [
        [
            x["mode"],
            str(x["workers"]),
            str(x["inputs"]),
            f"{x['video_s']:.1f}",
            f"{x['wall_s']:.1f}",
            f"{x['video_s_per_wall_s']:.2f}",
            f"{x['fps']:.1f}",
        ]
        for x in r["runs"]
    ]
    o = r["overhead"]
    return "\n".join(
        [
            "# edge-face batch: throughput",
            "",
            f"`{r['command']}` on {r['cpu']} ({r['cores']} cores); videos: {', '.join(r['videos'])}. "
            "Wall time includes starting the workers and loading their models.",
            "",
            *table(
                ["mode", "workers", "inputs", "video s", "wall s", "video s per wall s", "frames per s"],
                rows,
                "lrrrrrr",
            ),
            "",
            f"Per input beyond its analysis ({o['photos']} photos of one face, 1 worker; one photo's "
            f"analysis takes {o['analysis_ms_per_photo']} ms in process): local pool "
            f"{o['local_overhead_ms_per_input']} ms, Ray {o['ray_overhead_ms_per_input']} ms. "
            "Start-up (a batch of one photo): local "
            f"{o['local_start_s']} s, Ray {o['ray_start_s']} s.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    from runtime.card import atomic_write_bytes
    from runtime.cli import OneLineParser

    p = OneLineParser(prog="python -m benchmarks.batch", description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=200, help="small photos for the per-input overhead")
    p.add_argument("--output", type=Path, default=RESULTS / "batch", help="stem of the .json and .md written")
    a = p.parse_args(argv)
    r = benchmark(a.photos)
    atomic_write_bytes(a.output.with_suffix(".json"), (json.dumps(r, indent=2) + "\n").encode())
    md = markdown(r)
    atomic_write_bytes(a.output.with_suffix(".md"), md.encode())
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
