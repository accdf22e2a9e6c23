"""The runtime's settings, defined once: each field's default, its flag, its help and the
profiles that change it sit together here; the CLI's parser, the API's keywords, the
profiles and the README's table are derived from this record (as MediaPipe Tasks build a
detector from one ``FaceDetectorOptions``).

``pi``: a Raspberry Pi 4 or 5 (4 Cortex-A cores), with the nano tier (at most 25 M
multiply-adds per face and model, about a fifth of the accurate tier's). TFLite int8 runs
XNNPACK's ARM int8 kernels, the most tuned path there (on this x86 machine it is already
the fastest per face: 0.63 ms against 0.70 for ONNX int8 and 1.65 for ONNX float). Two
classifier threads leave the other cores to the detector and the camera thread. Detecting
every 2nd frame (optical flow in between) cuts the detector's share of the work while
boxes stay within 0.98 IoU of detecting every frame (benchmarks/stride.py). Classification
is not strided by the profile: like every live source it classifies every frame while the
Pi keeps up with the camera, and strides only as much as its frame budget needs
(runtime/stride.py). ``laptop`` is the defaults.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import model_folder
from .detector import detector_names
from .model_folder import BACKENDS, PRECISIONS, TIERS

PROFILE_NAMES = ("laptop", "pi")


def option(
    default: Any = MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    off: str | None = None,
    on: str | None = None,
    choices: Callable[[], tuple] | tuple | None = None,
    type: Callable[[str], Any] | None = None,
    metavar: str | None = None,
    pi: Any = MISSING,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A settings field: its default, and how the command line and the profiles reach it.

    ``flag`` takes a value; ``off`` / ``on`` name a switch that sets a boolean to False /
    True; a field with none of them is an API-only setting. ``pi`` is the field's value in
    the Raspberry Pi profile."""
    meta = {"help": help, "flag": flag, "off": off, "on": on, "choices": choices, "type": type}
    meta.update(metavar=metavar, pi=pi)
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def _tile(text: str) -> bool | None:
    return {"auto": None, "on": True, "off": False}[text]


def _tasks(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


@dataclass
class RuntimeConfig:
    """Every setting of a run, with its default."""

    source: str | None = option(
        None,
        "camera index (default 0), video file, image, folder of images, `rtsp://`/`http://` stream, "
        "or `demo`",
        flag="--source",
        metavar="SOURCE",
    )
    fallback_to_demo: bool = option(
        False,
        "with no `--source` and no camera, play the built-in demo clip (what `make run-edge` does)",
        on="--demo-fallback",
    )
    detector: str = option(
        "short",
        "the face detector for video, cameras and streams: BlazeFace `short`-range (faces within about "
        "2 m, a webcam), `full`-range (a room camera), or `centerface` (finds more faces, about 30x slower); "
        "each model crops by the rule measured for it",
        flag="--detector",
        choices=detector_names,
        pi="short",
    )
    still_detector: str | None = option(
        None,
        "the face detector for images and folders, e.g. `full` or `short+centerface` (faces of the first, "
        "and of the second where the first found none). Default: the `--detector`'s faces and CenterFace's "
        "where it found none (faces cut by the frame, turned, partly hidden, in a crowd): a photo is "
        "analysed once, so it may take longer",
        flag="--still-detector",
        metavar="NAME",
    )
    min_score: float = option(
        0.5, "detector confidence threshold", flag="--min-score", type=float, metavar="S"
    )
    tasks: tuple[str, ...] = option(
        help="comma-separated tasks to run, e.g. `emotion` (default: every shipped task)",
        flag="--tasks",
        type=_tasks,
        metavar="LIST",
        default_factory=model_folder.tasks,
    )
    models: dict[str, Path] = option(
        help="a model folder or an exported file (default: the shipped model, "
        "`trained_models/shipped.json`; `$EDGE_FACE_MODELS` points at another models folder)",
        default_factory=dict,
    )
    tier: str = option(
        "accurate",
        "which shipped models: `accurate` or `nano` (a fifth of the multiply-adds, for a Raspberry Pi)",
        flag="--tier",
        choices=TIERS,
        pi="nano",
    )
    backend: str = option(
        "onnx",
        "onnxruntime or the LiteRT interpreter",
        flag="--backend",
        choices=tuple(BACKENDS),
        pi="tflite",
    )
    precision: str = option(
        "int8",
        "which export to run (fp16 exists for tflite only)",
        flag="--precision",
        choices=PRECISIONS,
        pi="int8",
    )
    threads: int = option(1, "classifier threads per model", flag="--threads", type=int, metavar="N", pi=2)
    smoothing: float = option(
        0.35,
        "weight of the newest frame in each face's moving average (1 = none)",
        flag="--smoothing",
        type=float,
        metavar="W",
    )
    classify_every: int | None = option(
        None,
        "force classifying each tracked face every N frames (new faces at once). Default: every frame "
        "for files, images and folders; for a camera or stream every frame while the machine keeps up, "
        "striding only as much as its frame rate needs",
        flag="--classify-every",
        type=int,
        metavar="N",
    )
    align: bool = option(
        True,
        "do not turn tilted faces upright (from the detector's eye keypoints) before classifying them",
        off="--no-align",
    )
    # BlazeFace's eye keypoints are coarse (a 30 degree turn reads as about 21), so a smaller
    # roll is mostly noise and turning by it only resamples the face: on pipeline_dev gender
    # 95.7 % from 10 degrees against 94.3 % turning every face (docs/results.md).
    align_min_roll: float = option(10.0, "turn a face upright only when it is tilted this many degrees")
    confirm_hits: int = option(
        4,
        "video: show a new face once the detector has found it N times in its first frames (at once if "
        "it scores 0.7 or more); 1 shows every detection at once",
        flag="--confirm-hits",
        type=int,
        metavar="N",
    )
    detect_every: int = option(
        1,
        "run the face detector every N frames and follow faces by optical flow in between "
        "(a new face waits at most N-1 frames)",
        flag="--detect-every",
        type=int,
        metavar="N",
        pi=2,
    )
    parallel_tasks: bool = option(True, "run the tasks' engines side by side on their own threads")
    show: bool = option(True, "no window (headless; also automatic without a display)", off="--no-show")
    output: Path | None = option(
        None,
        "write the annotated frames here: an image (.png, .jpg) for an image, a folder for a folder "
        "of images, a video (.mp4, .avi) for a video, camera or stream",
        flag="--output",
        type=Path,
        metavar="PATH",
    )
    json: Path | None = option(
        None,
        "write one JSON line per face per frame here: frame, `file` (image and folder sources), timestamp, "
        "track_id (per image for photos), box `[x, y, w, h]`, detector score, and per task its label, "
        "confidence, smoothed `probs` and this frame's `raw` output (an age: `value`, `unit` and "
        "`band`, no `probs`)",
        flag="--json",
        type=Path,
        metavar="FILE",
    )
    per_image: Path | None = option(
        None,
        "image or folder sources: one row per image (file, faces, and per face box and labels) "
        "as .csv or .json",
        flag="--per-image",
        type=Path,
        metavar="FILE",
    )
    max_frames: int | None = option(
        None, "stop after this many frames", flag="--max-frames", type=int, metavar="N"
    )
    tile: bool | None = option(
        None,
        "also search image tiles for small faces (`auto`: on for still images)",
        flag="--tile",
        choices=("auto", "on", "off"),
        type=_tile,
    )


def _choices(meta: Mapping[str, Any]) -> tuple | None:
    c = meta["choices"]
    return c() if callable(c) else c


def profiles() -> dict[str, dict[str, Any]]:
    """Each profile's settings (``laptop`` is the defaults; the rest set what their fields say)."""
    pi = {f.name: f.metadata["pi"] for f in fields(RuntimeConfig) if f.metadata["pi"] is not MISSING}
    return {"laptop": {}, "pi": pi}


def add_options(
    parser: argparse.ArgumentParser, tasks: tuple[str, ...], exclude: frozenset[str] = frozenset()
) -> None:
    """Every RuntimeConfig field with a flag (but those named in ``exclude``, which an
    application sets itself), and ``--<task>-model`` for each task in ``tasks``."""
    for f in fields(RuntimeConfig):
        m = f.metadata
        if f.name in exclude:
            continue
        if m["off"] or m["on"]:
            parser.add_argument(
                m["off"] or m["on"],
                dest=f.name,
                action="store_false" if m["off"] else "store_true",
                help=m["help"],
            )
        elif m["flag"]:
            choices = _choices(m)
            kw: dict[str, Any] = {"dest": f.name, "help": m["help"], "metavar": m["metavar"]}
            if f.name == "tile":
                kw.update(choices=choices, default="auto")
            elif choices:
                kw["choices"] = choices
            if m["type"] and f.name != "tile":
                kw["type"] = m["type"]
            parser.add_argument(m["flag"], **{k: v for k, v in kw.items() if v is not None})
        if f.name == "models":
            for task in tasks:
                parser.add_argument(
                    f"--{task.replace('_', '-')}-model",
                    dest=f"model:{task}",
                    type=Path,
                    metavar="PATH",
                    help=f"the {task} model: {m['help']}",
                )
    parser.set_defaults(
        **{f.name: _default(f) for f in fields(RuntimeConfig) if f.name not in ("tasks", "tile")}
    )
    parser.set_defaults(tasks=None)


def add_profile(parser: argparse.ArgumentParser) -> None:
    """``--profile``, which every command running the runtime takes (see ``parse_with_profile``)."""
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=None,
        help="settings for a kind of machine (pi: the nano models, TFLite int8, 2 "
        "threads, detect every 2nd frame; laptop: the defaults); flags given explicitly win",
    )


def parse_with_profile(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """A profile only changes the defaults, so any flag on the command line overrides it."""
    first = parser.parse_args(argv)
    if getattr(first, "profile", None):
        parser.set_defaults(**profiles()[first.profile])
        return parser.parse_args(argv)
    return first


def _default(f) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def config_from_namespace(a: argparse.Namespace, **override: Any) -> RuntimeConfig:
    """The settings a parsed command line describes (flags not given keep their defaults)."""
    values: dict[str, Any] = {}
    for f in fields(RuntimeConfig):
        if f.name in vars(a):
            values[f.name] = getattr(a, f.name)
    values["tile"] = _tile(values["tile"]) if isinstance(values.get("tile"), str) else values.get("tile")
    values["models"] = {k.split(":", 1)[1]: v for k, v in vars(a).items() if k.startswith("model:") and v}
    if values.get("tasks") is None:  # every task shipped (with no shipped index, every task with a flag)
        values["tasks"] = model_folder.tasks() or tuple(values["models"])
    values.update(override)
    return RuntimeConfig(**values)


def config_with(config: RuntimeConfig | None = None, **options: Any) -> RuntimeConfig:
    """``config`` (or the defaults) with the named settings changed; an unknown name is refused
    in one line that lists the known ones."""
    known = {f.name for f in fields(RuntimeConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"unknown setting(s) {', '.join(unknown)}; the settings are {', '.join(sorted(known))}"
        )
    if config is None:
        return RuntimeConfig(**options)
    from dataclasses import replace

    return replace(config, **options)


def options_table(parser: argparse.ArgumentParser) -> list[str]:
    """The README's table of flags: every option of ``parser`` with its default and its value
    in the Raspberry Pi profile."""
    from .markdown import table

    pi = profiles()["pi"]
    rows = []
    for action in parser._actions:
        if not action.option_strings or action.help in (None, argparse.SUPPRESS) or action.dest == "help":
            continue
        flag = action.option_strings[-1]
        if action.choices:
            flag += " " + "\\|".join(str(c) for c in action.choices)
        elif action.nargs != 0:
            flag += f" {action.metavar or 'X'}"
        default = "" if action.nargs == 0 or action.default is None else str(action.default)
        rows.append([f"`{flag}`", default and f"`{default}`", str(pi.get(action.dest, "")), action.help])
    return table(["flag", "default", "`--profile pi`", "meaning"], rows, "llll")
