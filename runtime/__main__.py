"""python -m runtime: realtime emotion and gender recognition on a camera, file, folder or stream."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .cli import OneLineParser
from .model_folder import BACKENDS, PRECISIONS, TIERS
from .profiles import PROFILES

if TYPE_CHECKING:
    from .pipeline import RuntimeConfig


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=_prog(), description=__doc__)
    p.add_argument(
        "--version", action="store_true", help="print the version and the shipped models, and exit"
    )
    p.add_argument(
        "--list-models",
        action="store_true",
        help="list the shipped models of each tier (task, cost, exported files), and exit",
    )
    p.add_argument(
        "--source",
        default=None,
        help="camera index, video file, image, folder of images, stream URL, or 'demo' (default: camera 0)",
    )
    p.add_argument(
        "--demo-fallback",
        action="store_true",
        help="with no --source and no camera, play the built-in demo clip",
    )
    p.add_argument(
        "--detector",
        choices=("short", "full"),
        default="short",
        help="BlazeFace short-range (faces within ~2 m, default) or full-range",
    )
    p.add_argument("--min-score", type=float, default=0.5, help="detector confidence threshold")
    p.add_argument("--tasks", default=None, help="comma-separated: emotion, gender, or both (default)")
    p.add_argument(
        "--tier",
        choices=TIERS,
        default="accurate",
        help="which shipped models: accurate (default) or nano (a fifth of the "
        "multiply-adds, for a Raspberry Pi)",
    )
    p.add_argument(
        "--emotion-model",
        type=Path,
        default=None,
        help="model folder or exported file (default: the shipped model)",
    )
    p.add_argument(
        "--gender-model",
        type=Path,
        default=None,
        help="model folder or exported file (default: the shipped model)",
    )
    p.add_argument("--backend", choices=tuple(BACKENDS), default="onnx")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="int8",
        help="which export to run (fp16 exists for tflite only)",
    )
    p.add_argument("--threads", type=int, default=1, help="classifier threads per model")
    p.add_argument(
        "--smoothing",
        type=float,
        default=0.35,
        help="weight of the newest frame in each face's moving average (1 = none)",
    )
    p.add_argument(
        "--classify-every",
        type=int,
        default=None,
        metavar="N",
        help="force classifying each tracked face every N frames (new faces at once). "
        "Default: every frame for files, images and folders; for a camera or "
        "stream every frame while the machine keeps up, striding only as much "
        "as its frame rate needs",
    )
    p.add_argument(
        "--confirm-hits",
        type=int,
        default=4,
        metavar="N",
        help="video: show a new face once the detector has found it N times in its "
        "first frames (at once if it scores 0.7 or more); 1 shows every "
        "detection at once (default 4)",
    )
    p.add_argument(
        "--no-align",
        action="store_true",
        help="do not turn tilted faces upright (from the detector's eye keypoints) before classifying them",
    )
    p.add_argument(
        "--detect-every",
        type=int,
        default=1,
        metavar="N",
        help="run the face detector every N frames and follow faces by optical flow "
        "in between (a new face waits at most N-1 frames)",
    )
    p.add_argument("--no-show", action="store_true", help="no window (headless)")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write the annotated frames here: an image (.png, .jpg) for an "
        "image, a folder for a folder of images, a video (.mp4, .avi)",
    )
    p.add_argument("--json", type=Path, default=None, help="write one JSON line per face per frame here")
    p.add_argument(
        "--per-image",
        type=Path,
        default=None,
        metavar="FILE",
        help="image or folder sources: one row per image (file, faces, and per face "
        "box and labels) as .csv or .json",
    )
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument(
        "--tile",
        choices=("auto", "on", "off"),
        default="auto",
        help="also search image tiles for small faces (auto: on for still images)",
    )
    p.add_argument(
        "--summary-json",
        type=Path,
        default=None,
        help="write the end-of-run summary (FPS, per-stage latency) as JSON",
    )
    p.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        default=None,
        help="settings for a kind of machine (pi: the nano models, TFLite int8, 2 "
        "threads, detect every 2nd frame); flags given explicitly win",
    )
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """A profile only changes the defaults, so any flag on the command line overrides it."""
    parser = build_parser()
    first = parser.parse_args(argv)
    if first.profile:
        parser.set_defaults(**PROFILES[first.profile])
        return parser.parse_args(argv)
    return first


def config_from_args(a: argparse.Namespace, show: bool) -> RuntimeConfig:
    """The runtime settings the parsed flags describe (also used by benchmarks.pipeline_eval,
    so an evaluation runs exactly what the command line would)."""
    from .model_folder import tasks
    from .pipeline import RuntimeConfig

    # --<task>-model flags: task -> the folder or file given
    flags = {k.removesuffix("_model"): m for k, m in vars(a).items() if k.endswith("_model")}
    models = {task: m for task, m in flags.items() if m}
    if a.tasks is None:  # every task shipped (with no shipped index, every task with a flag)
        chosen = tasks() or tuple(flags)
    else:
        chosen = tuple(t.strip() for t in a.tasks.split(",") if t.strip())
    return RuntimeConfig(
        source=a.source,
        fallback_to_demo=a.demo_fallback,
        detector=a.detector,
        min_score=a.min_score,
        tasks=chosen,
        models=models,
        tier=a.tier,
        backend=a.backend,
        precision=a.precision,
        threads=a.threads,
        smoothing=a.smoothing,
        classify_every=a.classify_every,
        detect_every=a.detect_every,
        align=not a.no_align,
        confirm_hits=a.confirm_hits,
        show=show,
        output=a.output,
        json=a.json,
        per_image=a.per_image,
        max_frames=a.max_frames,
        tile=None if a.tile == "auto" else a.tile == "on",
    )


def _prog() -> str:
    """``edge-face`` when installed from the wheel, ``python -m runtime`` in the repository."""
    return "edge-face" if Path(sys.argv[0]).name == "edge-face" else "python -m runtime"


def version_line() -> str:
    from . import __version__, model_folder

    try:
        index = model_folder.shipped_index()
    except FileNotFoundError:
        return f"edge-face {__version__} (no shipped models found in {model_folder.models_dir()})"
    tiers = "; ".join(f"{tier}: {', '.join(models.values())}" for tier, models in index.items())
    return f"edge-face {__version__} (models in {model_folder.models_dir()}: {tiers})"


def models_table() -> str:
    from .markdown import table
    from .model_folder import catalog

    rows = [
        [r["tier"], r["task"], r["model"], r["macs_m"], f"{r['weights']:,}", ", ".join(r["files"])]
        for r in catalog()
    ]
    return "\n".join(table(["tier", "task", "model", "M MACs", "weights", "files"], rows, "lllrrl"))


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.version or a.list_models:
        try:
            print(version_line() if a.version else models_table())
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # probing logs; our one-line errors say it better
    from .cli import runtime_errors
    from .pipeline import run
    from .sinks import display_available

    show = not a.no_show
    if show and not display_available():
        print(
            "no display found: running headless (as with --no-show); pass --output FILE.mp4 "
            "to keep the annotated video",
            file=sys.stderr,
        )
        show = False
    cfg = config_from_args(a, show)
    try:
        summary = run(cfg, log=lambda m: print(m, file=sys.stderr))
    except runtime_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # during start-up, before the frame loop
        print("interrupted before the first frame", file=sys.stderr)
        return 130
    s = summary.to_dict()
    stages = ", ".join(f"{k} {v['mean_ms']:.1f}" for k, v in s["stages"].items())
    print(
        f"{s['source']}: {s['frames']} frames, {s['faces']} face detections, {s['tracks']} "
        f"track(s), {s['fps']:.1f} FPS; mean ms per frame: {stages}",
        file=sys.stderr,
    )
    print(summary.seen.describe(), file=sys.stderr)
    if a.summary_json:
        from .card import atomic_write_bytes

        atomic_write_bytes(a.summary_json, (json.dumps(s, indent=2) + "\n").encode())
    if summary.stopped:
        print(f"{summary.stopped}: outputs are closed and complete", file=sys.stderr)
        return 130 if "Ctrl-C" in summary.stopped else 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
