"""python -m runtime: realtime emotion and gender recognition on a camera, file, folder or stream."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .cli import OneLineParser
from .options import add_options, add_profile, config_from_namespace, parse_with_profile

if TYPE_CHECKING:
    from .options import RuntimeConfig


def build_parser() -> argparse.ArgumentParser:
    """The runtime's settings (runtime/options.py), one ``--<task>-model`` per shipped task,
    and the CLI's own flags."""
    from .model_folder import tasks

    p = OneLineParser(
        prog=_prog(),
        description=__doc__,
        epilog=f"other commands: `{_prog()} serve` (the live view in a browser and an HTTP API) and "
        f"`{_prog()} batch` (many files, on a process pool or Ray); each has its --help",
    )
    p.add_argument(
        "--version", action="store_true", help="print the version and the shipped models, and exit"
    )
    p.add_argument(
        "--list-models",
        action="store_true",
        help="list the shipped models of each tier (task, cost, exported files), and exit",
    )
    add_options(p, tasks())
    p.add_argument(
        "--summary-json",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the end-of-run summary as JSON: frames, faces, tracks, FPS, per-stage ms, and `seen`: "
        "per track its first and last frame, seconds on screen and each task's dominant label",
    )
    add_profile(p)
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_with_profile(build_parser(), argv)


def config_from_args(a: argparse.Namespace, show: bool) -> RuntimeConfig:
    """The runtime settings the parsed flags describe (also used by benchmarks.pipeline_eval,
    so an evaluation runs exactly what the command line would)."""
    return config_from_namespace(a, show=show)


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
    # Before anything imports OpenCV or MediaPipe (the parser lists the detectors):
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # probing logs; our one-line errors say it better
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:  # the applications above the API, each with its own flags
        from .server.cli import main as serve

        return serve(argv[1:], _prog())
    if argv[:1] == ["batch"]:
        from .batch.cli import main as batch

        return batch(argv[1:], _prog())
    a = parse_args(argv)
    if a.version or a.list_models:
        try:
            print(version_line() if a.version else models_table())
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    from .app import run
    from .cli import runtime_errors
    from .sinks import display_available

    show = a.show
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
