"""Raspberry Pi 4 and 5 figures to plan with: per-stage milliseconds and end-to-end FPS, each an
**estimate** with its low-high range, from this machine's measurements and two calibration
models with published Raspberry Pi timings.

``python -m benchmarks.pi_estimate`` measures, here, our stages (the BlazeFace detector on
640x480 frames; each shipped classifier of both tiers, ONNX and TFLite, int8 and fp32, one face,
1 and 2 threads) and the calibration models of ../shared/anchors/opencv_zoo (YuNet fp32 at
160x120 and the MobileFaceNet expression model int8 at 112x112, OpenCV DNN, as their project
timed them). Each of our times is scaled by a calibration model's published Pi time over its
time here, of the same precision (fp32 stages by YuNet fp32, int8 stages by MobileFaceNet
int8); the range spans the calibration ratios available for that precision (directly, and
through the published Intel i7-12700K time), the Pi 5's clock against the published Cortex-A76
board's, and, for 4 threads, a thread speed-up between none and the square of the measured
2-thread one. Method per row: ``ratio``. Instruction counting under qemu was not used (see
docs/results.md).

``python -m benchmarks.pi_estimate --measured`` (``make bench-pi``) on a Raspberry Pi measures
the same stages there, 1 and 4 threads, and writes the same table with method ``measured``:
a user's own figures, to compare with the estimate and to send back
(benchmarks/results/pi_measured_<board>.{json,md}).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.frames import demo_frames
from benchmarks.frontier import cpu_name
from benchmarks.speed import time_detector
from runtime.markdown import table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ANCHORS = Path(os.environ.get("EDGE_FACE_SHARED", ROOT.parent / "shared")) / "anchors" / "opencv_zoo"
YUNET = "face_detection_yunet_2023mar.onnx"

# Published means, ms (opencv/opencv_zoo @ 966be4c, benchmark/README.md; OpenCV DNN 4.10, CPU).
PUBLISHED = {
    "pi4": {"yunet_fp32": 6.23, "fer_fp32": 27.81, "fer_int8": 35.71},  # 4x Cortex-A72 @ 1.5 GHz
    "a76": {"yunet_fp32": 2.30, "fer_fp32": 12.44, "fer_int8": 17.14},  # RK3588, 4x Cortex-A76 @ 2.25 GHz
    "i7": {"yunet_fp32": 0.69, "fer_fp32": 1.79, "fer_int8": 2.92},  # Intel i7-12700K
}
DEVICES = {
    "Raspberry Pi 4 (Cortex-A72, 1.5-1.8 GHz)": {"board": "pi4", "clock": (1.5 / 1.8, 1.0)},
    "Raspberry Pi 5 (Cortex-A76, 2.4 GHz)": {"board": "a76", "clock": (2.25 / 2.4, 1.0)},
}
FACES = (1, 4)
THREADS = (1, 4)


def time_anchors(python: Path) -> dict:
    """The calibration models' ms here, run by ``benchmarks/anchor_timing.py`` in the
    calibration environment (OpenCV 4.10, as their timings were published)."""
    import subprocess

    r = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "anchor_timing.py"), str(ANCHORS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0:
        raise RuntimeError(f"timing the calibration models failed: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure_stages(threads: tuple[int, ...], frames: int = 120) -> dict:
    """This machine's times: the detector per frame, each shipped classifier per face."""
    from runtime.backends import open_classifier, single_face_ms
    from runtime.model_folder import BACKENDS, export_path, shipped_models

    det = time_detector(demo_frames(frames, (640, 480)), "short", warmup=10)
    classifiers: dict = {}
    for tier in ("accurate", "nano"):
        for task, folder in shipped_models(tier).items():
            for backend in BACKENDS:
                for precision in ("int8", "fp32"):
                    path = export_path(folder, backend, precision)
                    for t in threads:
                        clf = open_classifier(path, threads=t)
                        face = np.zeros(clf.input_shape, np.float32)
                        key = f"{tier}/{task}/{backend}/{precision}/{t}"
                        classifiers[key] = single_face_ms(clf, face, repeats=100)
    return {"detect_ms": det["mean_ms"], "classifiers": classifiers}


def overhead_ms() -> dict[str, float]:
    """Per frame here, besides detection and the engines: preprocessing per face, tracking
    and drawing per frame (the full pipeline on the demo clip, one face)."""
    from runtime.options import RuntimeConfig
    from runtime.overlay import draw
    from runtime.pipeline import Pipeline

    draw_ms = []
    with Pipeline(RuntimeConfig(show=False, parallel_tasks=False)) as pipe:
        for i, frame in enumerate(demo_frames(60, (640, 480)).frames):
            result = pipe.process(frame, i, i / 30)
            t0 = time.perf_counter()
            draw(frame, result)
            draw_ms.append((time.perf_counter() - t0) * 1000)
        s = pipe.times.summary()
    return {
        "preprocess_per_face": s["preprocess"]["mean_ms"],
        "per_frame": s["track"]["mean_ms"] + float(np.mean(draw_ms)),
    }


def ratios(here: dict[str, float]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per board and precision, the (low, high) factor from this machine to the board."""
    out: dict = {}
    i7_over_here = PUBLISHED["i7"]["yunet_fp32"] / here["yunet_fp32"]  # the i7's time over ours
    for board in ("pi4", "a76"):
        p = PUBLISHED[board]
        fp32 = [
            p["yunet_fp32"] / here["yunet_fp32"],
            p["fer_fp32"] / PUBLISHED["i7"]["fer_fp32"] * i7_over_here,
        ]
        int8 = [p["fer_int8"] / here["fer_int8"], p["fer_int8"] / PUBLISHED["i7"]["fer_int8"] * i7_over_here]
        out[board] = {"fp32": (min(fp32), max(fp32)), "int8": (min(int8), max(int8))}
    return out


SETTINGS = [(t, b, p) for t in ("accurate", "nano") for b in ("onnx", "tflite") for p in ("int8", "fp32")]


def task_ms(here: dict, tier: str, backend: str, precision: str, threads: int) -> float:
    """Every task's engine for one face, summed: what a face costs per frame."""
    suffix = f"/{backend}/{precision}/{threads}"
    return sum(v for k, v in here["classifiers"].items() if k.startswith(f"{tier}/") and k.endswith(suffix))


def overhead(here: dict, faces: int) -> float:
    return faces * here["overhead"]["preprocess_per_face"] + here["overhead"]["per_frame"]


def row(setting: tuple, device: str, threads: int, faces: int, detect, classify, fps, method: str) -> dict:
    """One line of the table; each figure a [low, high] pair (equal when measured)."""
    tier, backend, precision = setting
    return {
        "device": device,
        "tier": tier,
        "backend": backend,
        "precision": precision,
        "threads": threads,
        "faces": faces,
        "detect_ms": [round(x, 1) for x in detect],
        "classify_ms_per_face": [round(x, 1) for x in classify],
        "fps": [round(x, 1) for x in fps],
        "method": method,
    }


def estimate(here: dict, anchors: dict[str, float]) -> list[dict]:
    r = ratios(anchors)
    rows = []
    for device, d in DEVICES.items():
        board, (clock_lo, clock_hi) = d["board"], d["clock"]
        fp32_lo, fp32_hi = r[board]["fp32"]  # the detector and the glue: MediaPipe's float XNNPACK
        det = (here["detect_ms"] * fp32_lo * clock_lo, here["detect_ms"] * fp32_hi * clock_hi)
        for setting in SETTINGS:
            lo_f, hi_f = r[board][setting[2]]
            one, two = task_ms(here, *setting, 1), task_ms(here, *setting, 2)
            speedup = max(1.0, one / two) if two else 1.0
            for threads in THREADS:
                t_lo = (
                    1.0 if threads == 1 else speedup**2
                )  # 4 threads: from the square of 2 threads' gain to none
                cls = (one * lo_f * clock_lo / t_lo, one * hi_f * clock_hi)
                for faces in FACES:
                    over = overhead(here, faces)
                    f_lo = det[0] + faces * cls[0] + over * fp32_lo * clock_lo
                    f_hi = det[1] + faces * cls[1] + over * fp32_hi * clock_hi
                    rows.append(
                        row(setting, device, threads, faces, det, cls, (1000 / f_hi, 1000 / f_lo), "ratio")
                    )
    return rows


def measured_rows(here: dict, device: str) -> list[dict]:
    """The same rows from this machine's own times (on a Pi: measured, not estimated)."""
    rows = []
    for setting in SETTINGS:
        for threads in THREADS:
            cls = task_ms(here, *setting, threads)
            for faces in FACES:
                fps = 1000 / (here["detect_ms"] + faces * cls + overhead(here, faces))
                rows.append(
                    row(
                        setting,
                        device,
                        threads,
                        faces,
                        [here["detect_ms"]] * 2,
                        [cls] * 2,
                        [fps] * 2,
                        "measured",
                    )
                )
    return rows


def span(v: list[float]) -> str:
    return f"{v[0]:g}" if v[0] == v[1] else f"{v[0]:g}–{v[1]:g}"


def markdown(r: dict) -> str:
    rows = [
        [
            x["device"],
            x["tier"],
            x["backend"],
            x["precision"],
            str(x["threads"]),
            str(x["faces"]),
            span(x["detect_ms"]),
            span(x["classify_ms_per_face"]),
            span(x["fps"]),
            x["method"],
        ]
        for x in r["rows"]
    ]
    head = "# Raspberry Pi figures: " + ("measured" if r["measured"] else "ESTIMATES, not measured on a Pi")
    lines = [head, "", f"`{r['command']}`, {r['when']}, measured on {r['cpu']} ({r['machine']}).", ""]
    if not r["measured"]:
        a = r["anchors_here_ms"]
        lines += [
            f"Calibration models here (OpenCV {r['opencv']} DNN, one thread): YuNet fp32 "
            f"{a['yunet_fp32']:.2f} ms, MobileFaceNet FER int8 {a['fer_int8']:.2f} ms; published Pi 4B "
            f"{PUBLISHED['pi4']['yunet_fp32']} / {PUBLISHED['pi4']['fer_int8']} ms, Cortex-A76 board "
            f"{PUBLISHED['a76']['yunet_fp32']} / {PUBLISHED['a76']['fer_int8']} ms. Assumptions: 64-bit OS, "
            "active cooling (no throttling), 640x480 frames, the classifiers' threads as given (the detector "
            "one thread), every face classified "
            "on every frame (no stride), every task.",
            "",
        ]
    lines += table(
        [
            "device",
            "tier",
            "backend",
            "precision",
            "threads",
            "faces",
            "detect ms",
            "classify ms / face",
            "FPS",
            "method",
        ],
        rows,
        "llllrrrrrl",
    )
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    from datetime import date

    from runtime.card import atomic_write_bytes
    from runtime.cli import OneLineParser

    p = OneLineParser(prog="python -m benchmarks.pi_estimate", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--measured", action="store_true", help="on a Pi: measure its own stages instead of estimating"
    )
    p.add_argument("--output", type=Path, default=None, help="stem of the .json and .md written")
    p.add_argument("--frames", type=int, default=120, help="frames for the detector's time")
    p.add_argument(
        "--calib-python",
        type=Path,
        default=ROOT / ".venv-calib" / "bin" / "python",
        help="a Python with OpenCV 4.10 (requirements/pi-calibration.txt; make pi-estimate sets it up)",
    )
    a = p.parse_args(argv)
    import platform

    threads = THREADS if a.measured else (1, 2)
    here = measure_stages(threads, a.frames)
    here["overhead"] = overhead_ms()
    r: dict = {
        "command": "python -m benchmarks.pi_estimate" + (" --measured" if a.measured else ""),
        "when": str(date.today()),
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "opencv": cv2.__version__,
        "measured": a.measured,
        "here": here,
    }
    if a.measured:
        r["rows"] = measured_rows(here, cpu_name())
        stem = a.output or RESULTS / f"pi_measured_{_slug(cpu_name())}"
    else:
        if not (ANCHORS / YUNET).is_file():
            print(f"error: {ANCHORS} has no calibration models; the estimate needs them", file=sys.stderr)
            return 2
        anchors = time_anchors(a.calib_python)
        r["opencv"] = anchors["opencv"]
        r["anchors_here_ms"] = anchors["ms"]
        r["ratios"] = {b: {k: list(v) for k, v in x.items()} for b, x in ratios(r["anchors_here_ms"]).items()}
        r["rows"] = estimate(here, r["anchors_here_ms"])
        stem = a.output or RESULTS / "pi_estimate"
    atomic_write_bytes(stem.with_suffix(".json"), (json.dumps(r, indent=1) + "\n").encode())
    md = markdown(r)
    atomic_write_bytes(stem.with_suffix(".md"), md.encode())
    print(md)
    return 0


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:40] or "board"


if __name__ == "__main__":
    sys.exit(main())
