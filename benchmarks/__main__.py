"""python -m benchmarks: speed (per stage, sweeps) and accuracy of the shipped models, with the
reference demo's pipeline side by side where its models are present."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path

from runtime.cli import OneLineParser
from runtime.metrics import latency_summary

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ("fer2013_publictest.npz", "gender_val.npz")


def shared_dir() -> Path:
    return Path(os.environ.get("EDGE_FACE_SHARED", ROOT.parent / "shared"))


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:  # x86 names the CPU in "model name"; a Raspberry Pi names the board in "Model"
        info = dict(
            line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines() if ":" in line
        )
        info = {k.strip(): v.strip() for k, v in info.items()}
        cpu = info.get("model name") or info.get("Model") or info.get("Hardware") or cpu
    except OSError:
        pass
    libs = {}
    from importlib.metadata import PackageNotFoundError, version

    for name in ("onnxruntime", "ai-edge-litert", "mediapipe", "opencv-contrib-python", "numpy"):
        with suppress(PackageNotFoundError):
            libs[name] = version(name)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "libraries": libs,
    }


# Only a full run may update the committed figures; a quick run is a smoke test.
COMMITTED = ROOT / "benchmarks" / "results" / "bench.json"
QUICK = ROOT / ".cache" / "bench-quick" / "bench.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument(
        "--source",
        default=None,
        help="video file or folder to time on (default: clips built from a real face)",
    )
    p.add_argument("--frames", type=int, default=150, help="frames per setting")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", default="1,2,all", help="thread counts to sweep")
    p.add_argument("--quick", action="store_true", help="few frames, a reduced sweep (tests, smoke)")
    p.add_argument(
        "--data",
        nargs="*",
        default=None,
        help="evaluation .npz files (default: the shared FER2013 PublicTest and gender "
        "val when present); pass none to skip accuracy",
    )
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="the reference demo's models (default: ../shared/anchors when present)",
    )
    p.add_argument(
        "--reference-python",
        default=str(ROOT / ".venv-train" / "bin" / "python"),
        help="a Python with Keras to run the reference models",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"where the figures go (default: {COMMITTED.relative_to(ROOT)}, the "
        f"committed figures, for a full run; {QUICK.relative_to(ROOT)} for --quick)",
    )
    p.add_argument(
        "--output", type=Path, default=None, help="folder for bench.md and bench.png (default: beside --json)"
    )
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="also put the tables into this Markdown page (e.g. docs/results.md), between its bench markers",
    )
    return p.parse_args(argv)


def _stride_clip(n: int, frames_for):
    """A real talking face when the shared media are there, else the demo clip."""
    from benchmarks.frames import decoded_frames
    from benchmarks.speed import Setting

    clip = shared_dir() / "media" / "fer_woman2.mp4"
    return decoded_frames(str(clip), max(n, 300)) if clip.is_file() else frames_for(Setting())


def run_reference(a: argparse.Namespace, frame_sets: dict, specs: list[str], log) -> dict:
    anchors = a.reference or shared_dir() / "anchors"
    from benchmarks.reference import reference_files

    if reference_files(anchors) is None:
        return {"skipped": f"the reference demo's models are not in {anchors} (pass --reference DIR)"}
    if not Path(a.reference_python).is_file():
        return {
            "skipped": f"{a.reference_python} not found: the reference runs Keras models and "
            "needs the training environment (make setup-train)"
        }
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="bench-ref-") as tmp:
        frames = Path(tmp) / "frames.npz"
        np.savez(frames, **{k: np.stack(v.frames) for k, v in frame_sets.items()})
        out = Path(tmp) / "ref.json"
        cmd = [
            a.reference_python,
            "-m",
            "benchmarks.reference",
            "--anchors",
            str(anchors),
            "--frames",
            str(frames),
            "--warmup",
            str(min(a.warmup, 5)),
            "--json",
            str(out),
            "--data",
            *specs,
        ]
        log("reference pipeline (Haar + Keras per face), in the training environment")
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["no output"])[-1]
            return {"skipped": f"the reference run failed: {last}"}
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    from tqdm.auto import tqdm

    from benchmarks.accuracy import score_models
    from benchmarks.frames import FrameSet, composed_frames, decoded_frames
    from benchmarks.report import chart, markdown, replace_section
    from benchmarks.speed import Setting, run_speed, sweep, time_default_detectors
    from benchmarks.stride import STRIDES, stride_study
    from runtime.backends import BackendError
    from runtime.card import CardError, atomic_write_bytes
    from runtime.detection import DetectorError
    from runtime.model_folder import shipped_models
    from runtime.sources import SourceError

    n = 30 if a.quick else a.frames
    warmup = 5 if a.quick else a.warmup
    cores = os.cpu_count() or 1
    threads = sorted({cores if t.strip() == "all" else int(t) for t in a.threads.split(",")})
    if a.data is None:
        data = [str(shared_dir() / "data" / f) for f in DEFAULT_DATA if (shared_dir() / "data" / f).is_file()]
    else:
        data = a.data
    accuracy_skipped = None
    if a.quick and a.data is None:
        data = []
        accuracy_skipped = "--quick skips accuracy on purpose (pass --data FILES to score)"
    elif not data:
        accuracy_skipped = (
            f"no evaluation data: pass --data FILES, or put the shared data in {shared_dir() / 'data'}"
        )
    try:
        decoded = decoded_frames(a.source, n) if a.source else None
        cache: dict[tuple, FrameSet] = {}

        def frames_for(s: Setting) -> FrameSet:
            if decoded is not None:
                return decoded
            key = (s.resolution, s.faces)
            if key not in cache:
                cache[key] = composed_frames(n, s.resolution, s.faces)
            return cache[key]

        settings = sweep(Setting(), [t for t in threads if t != 1], a.quick)
        bar = tqdm(total=len(settings), desc="speed", unit="setting")
        speed = run_speed(
            settings, frames_for, warmup, progress=lambda m: (bar.set_postfix_str(m[:60]), bar.update(1))
        )
        bar.close()
        detectors = time_default_detectors(frames_for(Setting()), warmup)
        stride_clip = decoded or _stride_clip(n, frames_for)
        sbar = tqdm(total=2 if a.quick else len(STRIDES), desc="strides", unit="setting")
        strides = stride_study(
            stride_clip, STRIDES[::3] if a.quick else STRIDES, progress=lambda m: sbar.update(1)
        )
        sbar.close()
        models = shipped_models()
        accuracy = []
        if data:
            abar = tqdm(desc="accuracy", unit="file")
            accuracy = score_models(models, data, progress=lambda m: abar.update(1))
            abar.close()
        base = frames_for(Setting())
        reference = run_reference(a, {"640x480, 1 face": base}, data, lambda m: print(m, file=sys.stderr))
    except (SourceError, DetectorError, BackendError, CardError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = {
        "schema": 1,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])),
        "machine": machine(),
        "frames_per_setting": n,
        "warmup": warmup,
        "models": {k: str(v) for k, v in models.items()},
        "speed": speed,
        "detectors": detectors,
        "strides": strides,
        "accuracy": accuracy,
        "reference": reference,
    }
    if accuracy_skipped:
        result["accuracy_skipped"] = accuracy_skipped
    if decoded is not None and decoded.decode_ms:
        result["decode"] = {
            "source": a.source,
            "p50_ms": latency_summary(decoded.decode_ms)["p50_ms"],
        }
    ours = speed[0]
    video = next(r for r in detectors if r["case"] == "video, default")
    result["targets"] = {
        "pipeline_over_detector": ours["pipeline_over_detector"],
        "ours_fps": ours["fps"],
        "video_detector_over_before": video["over_before"],
    }
    ref_speed = reference.get("speed", {}).get("640x480, 1 face")
    if ref_speed:
        result["targets"].update(
            reference_fps=ref_speed["fps"], fps_ratio=round(ours["fps"] / ref_speed["fps"], 2)
        )
    json_path = a.json or (QUICK if a.quick else COMMITTED)
    out_dir = a.output or json_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(json_path, (json.dumps(result, indent=2) + "\n").encode())
    text = markdown(result)
    atomic_write_bytes(out_dir / "bench.md", text.encode())
    has_chart = chart(result, out_dir / "bench.png")
    if a.results:
        replace_section(a.results, "bench", text)
    print(text)
    print(
        f"written: {json_path}, {out_dir / 'bench.md'}"
        + (f", {out_dir / 'bench.png'}" if has_chart else " (no chart: matplotlib missing)"),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
