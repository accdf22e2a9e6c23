"""Raspberry Pi 4 and 5 figures to plan with: per-stage milliseconds and end-to-end FPS, each an
**estimate** with its low-high range, from this machine's measurements and two calibration
models with published Raspberry Pi timings.

``python -m benchmarks.pi_estimate`` measures, here, our stages (the BlazeFace detector on
640x480 frames; each shipped classifier of both tiers, ONNX and TFLite, int8 and fp32, one face,
1 and 2 threads) and the calibration models of ../shared/anchors/opencv_zoo (YuNet fp32 at
160x120 and the MobileFaceNet expression model int8 at 112x112, OpenCV DNN, as their project
timed them) at 1 and 2 threads. Each of our times is scaled by a calibration model's
published Pi time over its time here, of the same precision (fp32 stages by YuNet fp32, int8
stages by MobileFaceNet int8, widened to the fp32 range: OpenCV's int8 kernels are a weak
proxy for ours). The published times are at OpenCV's default threads (every
core), so each is first brought to one thread: sped up by between this machine's 2-thread gain
and Amdahl's bound from it. The range spans that correction, the route through the published
Intel i7-12700K time (a cross-check), the Pi's clock against the published board's, and, for 4
threads, a speed-up between the 2-thread gain here and Amdahl's bound. Method per row:
``ratio (<calibration model>)``.

With benchmarks/results/pi_instructions.json (``make pi-count``: scripts/count_aarch64.sh
counts every stage's and both calibration models' aarch64 instructions under qemu-user with a
plugin, as ``-cpu cortex-a72`` and ``-cpu cortex-a76``, so each library takes that core's
kernels), the detector and classifiers are instead their instructions on the board's core times
the board's nanoseconds per instruction, from the calibration models' one-thread published
times over their own counts: method ``instructions (<core>)``, the ratio route's FPS beside.
Each board's detector is the BlazeFace engine that runs there (MediaPipe's aarch64 build needs
ARMv8.1 atomics: the Pi 4 runs it on LiteRT, runtime/blazeface_litert.py).

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
from runtime.blazeface import ENGINES
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
# "detector": the BlazeFace engine that runs there (runtime/blazeface.py: MediaPipe's build
# needs ARMv8.1 atomics, which the Pi 4's ARMv8.0 Cortex-A72 lacks; LiteRT runs the same file).
DEVICES = {
    "Raspberry Pi 4 (Cortex-A72, 1.5-1.8 GHz)": {
        "board": "pi4",
        "clock": (1.5 / 1.8, 1.0),
        "detector": "litert",
    },
    "Raspberry Pi 5 (Cortex-A76, 2.4 GHz)": {
        "board": "a76",
        "clock": (2.25 / 2.4, 1.0),
        "detector": "mediapipe",
    },
}
CALIBRATION = {"fp32": "YuNet fp32", "int8": "FER int8 + YuNet fp32"}  # which model scales which precision
CPU_OF = {"pi4": "cortex-a72", "a76": "cortex-a76"}  # qemu's -cpu for each board's core
INSTRUCTIONS = RESULTS / "pi_instructions.json"  # scripts/count_aarch64.sh writes it
# The threads OpenCV used for the published times: every core. The A76 board (Khadas Edge2,
# RK3588) has 4 A76 and 4 slower A55 cores: 8 threads, and Amdahl's bound for 8 is an upper one.
CORES = {"pi4": 4, "a76": 8, "i7": 20}
DECODE_WIDTH = {"pi4": 3, "a76": 4}  # instructions a cycle: Cortex-A72 3-wide, Cortex-A76 4-wide
BOARD_GHZ = {"pi4": 1.5, "a76": 2.25}  # the published boards' clocks
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


def measure_stages(
    threads: tuple[int, ...],
    frames: int = 120,
    rounds: int = 3,
    repeats: int = 100,
    both_engines: bool = False,
) -> dict:
    """This machine's times: the detector per frame (with ``both_engines``, on MediaPipe and
    on LiteRT too, for boards that run either), each shipped classifier per face (the median
    of ``rounds`` interleaved rounds, so that a slow spell touches every figure alike instead
    of one thread count of one file)."""
    from runtime.backends import open_classifier, single_face_ms
    from runtime.model_folder import shipped_exports

    clip = demo_frames(frames, (640, 480))
    det = time_detector(clip, "short", warmup=10)
    by_engine = (
        {e: time_detector(clip, "short", 10, engine=e)["mean_ms"] for e in ENGINES} if both_engines else {}
    )
    engines = {
        f"{key}/{t}": open_classifier(path, threads=t)
        for key, path in shipped_exports().items()
        for t in threads
    }
    times: dict[str, list[float]] = {key: [] for key in engines}
    for _ in range(rounds):
        for key, clf in engines.items():
            times[key].append(single_face_ms(clf, np.zeros(clf.input_shape, np.float32), repeats=repeats))
    classifiers = {key: float(np.median(v)) for key, v in times.items()}
    out = {"detect_ms": det["mean_ms"], "detector_engine": det.get("engine", ""), "classifiers": classifiers}
    return {**out, "detect_ms_by_engine": by_engine} if by_engine else out


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


def amdahl(s2: float, n: int) -> float:
    """The speed-up on ``n`` threads that Amdahl's law gives for a measured 2-thread speed-up
    ``s2`` (parallel fraction p = 2(1 - 1/s2)): an upper bound, real scaling is rarely better."""
    p = min(1.0, max(0.0, 2 * (1 - 1 / s2)))
    return 1 / ((1 - p) + p / n)


def single_thread_ms(published_ms: float, s2: float, cores: int) -> tuple[float, float]:
    """A time published at OpenCV's default threads (every core) brought to one thread: its
    cores sped it up at least as much as two do here and at most as Amdahl's law allows."""
    return published_ms * s2, published_ms * amdahl(s2, cores)


def speedups(ms: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each calibration model's 2-thread speed-up here."""
    return {k: max(1.0, ms["1"][k] / ms["2"][k]) for k in ms["1"]}


def cross_check(ms: dict[str, dict[str, float]]) -> dict[str, dict[str, tuple[float, float]]]:
    """The route through the i7, per board and precision, as a (low, high) pair: the board over
    the i7 for the FER model (published, fp32 and int8) times the i7 over here for YuNet, every
    published time brought to one thread in two consistent ways: cores that scale no further
    than two do here (the boards' and the i7's corrections then cancel), and cores that reach
    Amdahl's bound (4 on the Pi 4, 8 on the A76 board, 20 on the i7). The fp32 FER model is
    not in ../shared, so the int8 one's scaling here stands for it."""
    s2 = speedups(ms)
    i7, yunet, fer = PUBLISHED["i7"], s2["yunet_fp32"], s2["fer_int8"]
    out: dict = {}
    for board in ("pi4", "a76"):
        out[board] = {}
        for precision in ("fp32", "int8"):
            board_over_i7 = PUBLISHED[board][f"fer_{precision}"] / i7[f"fer_{precision}"]
            two = board_over_i7 * i7["yunet_fp32"] * yunet / ms["1"]["yunet_fp32"]
            bound = (
                board_over_i7
                * amdahl(fer, CORES[board])
                / amdahl(fer, CORES["i7"])
                * i7["yunet_fp32"]
                * amdahl(yunet, CORES["i7"])
                / ms["1"]["yunet_fp32"]
            )
            out[board][precision] = (min(two, bound), max(two, bound))
    return out


def ratios(ms: dict[str, dict[str, float]]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per board and precision, the (low, high) factor from one thread here to one core there:
    the calibration model of that precision (fp32 stages by YuNet fp32, int8 by FER int8), its
    published time brought to one thread over its time here, widened to take in the route
    through the i7. The int8 range also takes in the fp32 one: OpenCV's int8 kernels are far
    from onnxruntime's and LiteRT's (its int8 FER model is slower than its fp32 one on both
    boards, ours run at float speed or better here), so our int8 stages may scale as float ones."""
    s2, via_i7 = speedups(ms), cross_check(ms)
    out: dict = {}
    for board in ("pi4", "a76"):
        out[board] = {}
        for precision, model in (("fp32", "yunet_fp32"), ("int8", "fer_int8")):
            lo, hi = single_thread_ms(PUBLISHED[board][model], s2[model], CORES[board])
            x_lo, x_hi = via_i7[board][precision]
            out[board][precision] = (min(lo / ms["1"][model], x_lo), max(hi / ms["1"][model], x_hi))
        (i_lo, i_hi), (f_lo, f_hi) = out[board]["int8"], out[board]["fp32"]
        out[board]["int8"] = (min(i_lo, f_lo), max(i_hi, f_hi))
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


def ns_per_instruction(counts: dict, ms: dict[str, dict[str, float]], board: str) -> tuple[float, float]:
    """The board's nanoseconds per instruction, (low, high), from both calibration models: each
    one's published time brought to one thread (as in :func:`ratios`) over its instructions on
    the board's core (``counts``: scripts/count_aarch64.sh)."""
    s2, insns = speedups(ms), counts["cpus"][CPU_OF[board]]
    ns = [
        t * 1e6 / insns[model]
        for model in ("yunet_fp32", "fer_int8")
        for t in single_thread_ms(PUBLISHED[board][model], s2[model], CORES[board])
    ]
    # No core retires more instructions a cycle than it decodes: a faster end is the thread
    # correction overreaching, not the core.
    floor = 1 / (DECODE_WIDTH[board] * BOARD_GHZ[board])
    return max(floor, min(ns)), max(floor, max(ns))


def scaled(x: float, factor: tuple[float, float], clock: tuple[float, float]) -> tuple[float, float]:
    """``x`` times a (low, high) factor and the board's clock factor: a (low, high) time."""
    return x * factor[0] * clock[0], x * factor[1] * clock[1]


def frame_figures(
    det: tuple[float, float], one: tuple[float, float], s2: float, threads: int, faces: int, over: tuple
) -> tuple[tuple, tuple, tuple]:
    """Detect ms, classify ms per face and FPS, each (low, high), from one-thread ranges: 4
    threads sped up as the calibration was, between the 2-thread gain here and Amdahl."""
    fast, slow = (1.0, 1.0) if threads == 1 else (amdahl(s2, threads), s2)
    cls = (one[0] / fast, one[1] / slow)
    frame = [det[i] + faces * cls[i] + over[i] for i in (0, 1)]
    return det, cls, (1000 / frame[1], 1000 / frame[0])


def current_counts(path: Path) -> dict | None:
    """The instruction counts in ``path`` if they are of the shipped files as they are now;
    else None (and a line saying so): counts of other models would price the wrong work."""
    if not path.is_file():
        return None
    from runtime.card import sha256_of
    from runtime.model_folder import shipped_exports

    counts = json.loads(path.read_text())
    now = {key: sha256_of(file) for key, file in shipped_exports().items()}
    if counts.get("files") != now:
        stale = sorted(k for k in now if counts.get("files", {}).get(k) != now[k])
        print(
            f"warning: {path.name} counts other model files than the shipped ones ({', '.join(stale[:3])}"
            f"{', ...' if len(stale) > 3 else ''}); every row uses the ratio route: run make pi-count",
            file=sys.stderr,
        )
        return None
    return counts


def estimate(here: dict, anchors: dict[str, dict[str, float]], counts: dict | None = None) -> list[dict]:
    """Every row for both boards from this machine's stage times (``here``) and the calibration
    models' ms here (``anchors``). By default the ratio route scales our times. With
    instruction counts (``counts``), the detector and the classifiers are instead their
    instructions on that board's core times its ns per instruction (method ``instructions``),
    and each row keeps the ratio route's FPS beside it; the per-frame glue scales by the ratio
    either way."""
    r = ratios(anchors)
    rows = []
    for device, d in DEVICES.items():
        board, clock = d["board"], d["clock"]
        fp32 = r[board]["fp32"]  # the detector and the glue: MediaPipe's float XNNPACK
        det_here = here.get("detect_ms_by_engine", {}).get(d["detector"], here["detect_ms"])
        det_ratio = scaled(det_here, fp32, clock)
        if counts:
            ns, insns = ns_per_instruction(counts, anchors, board), counts["cpus"][CPU_OF[board]]
            det_insns = scaled(insns["detect"] / 1e6, ns, clock)
        for setting in SETTINGS:
            tier, backend, precision = setting
            one, two = task_ms(here, *setting, 1), task_ms(here, *setting, 2)
            s2 = max(1.0, one / two) if two else 1.0
            one_ratio = scaled(one, r[board][precision], clock)
            if counts:
                n = sum(
                    v
                    for k, v in insns.items()
                    if k.startswith(f"{tier}/") and k.endswith(f"/{backend}/{precision}")
                )
                one_insns = scaled(n / 1e6, ns, clock)
            for threads in THREADS:
                for faces in FACES:
                    over = scaled(overhead(here, faces), fp32, clock)
                    by_ratio = frame_figures(det_ratio, one_ratio, s2, threads, faces, over)
                    if not counts:
                        rows.append(
                            row(
                                setting,
                                device,
                                threads,
                                faces,
                                *by_ratio,
                                f"ratio ({CALIBRATION[precision]})",
                            )
                        )
                        continue
                    by_insns = frame_figures(det_insns, one_insns, s2, threads, faces, over)
                    x = row(setting, device, threads, faces, *by_insns, f"instructions ({CPU_OF[board]})")
                    x["fps_by_ratio"] = [round(v, 1) for v in by_ratio[2]]
                    rows.append(x)
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


def calibration_lines(r: dict) -> list[str]:
    """The calibration runs here and the factors they give, under the table's heading."""
    ms, s2 = r["anchors_here_ms"], speedups(r["anchors_here_ms"])
    names = {"yunet_fp32": "YuNet fp32, 160x120", "fer_int8": "MobileFaceNet FER int8, 112x112"}

    def one_thread(board: str, k: str) -> str:
        lo, hi = single_thread_ms(PUBLISHED[board][k], s2[k], CORES[board])
        return f"{PUBLISHED[board][k]} → {lo:.1f}–{hi:.1f}"

    cal = [
        [
            names[k],
            f"{ms['1'][k]:.2f}",
            f"{ms['2'][k]:.2f}",
            f"{s2[k]:.2f} / {amdahl(s2[k], 4):.2f} / {amdahl(s2[k], 8):.2f}",
            one_thread("pi4", k),
            one_thread("a76", k),
            f"{PUBLISHED['i7'][k]}",
        ]
        for k in names
    ]
    factors = [
        [b, p, f"{lo:.2f}–{hi:.2f}", "–".join(f"{x:.2f}" for x in r["cross_check"][b][p])]
        for b, x in r["ratios"].items()
        for p, (lo, hi) in x.items()
    ]
    return [
        f"Calibration models here (OpenCV {r['opencv']} DNN, as published), ms; the published times are at "
        "OpenCV's default threads (every core: 4 on the Pi 4B, 8 on the A76 board (4 A76 + 4 A55), "
        "20 on the i7), brought to one thread "
        "between this machine's 2-thread speed-up and Amdahl's bound from it for that many threads:",
        "",
        *table(
            [
                "model",
                "here, 1 thread",
                "here, 2 threads",
                "speed-up 2 / 4 / 8 (Amdahl)",
                "Pi 4B → 1 thread",
                "Cortex-A76 board → 1 thread",
                "i7-12700K (20 threads)",
            ],
            cal,
            "lrrrrrr",
        ),
        "",
        "Factor from one thread here to one core there (clock not yet applied): the range takes in the "
        "direct route (the table above) and the route through the i7 (the board over the i7 for the FER "
        "model, times the i7 over here for YuNet); where they disagree, the models' own ratios differ, "
        "and ours may fall anywhere between:",
        "",
        *table(["board", "precision", "factor", "through the i7"], factors, "llrr"),
        "",
        "Assumptions: 64-bit OS, active cooling (no throttling), 640x480 frames, the classifiers' threads "
        "as given (the detector on its engine's own pool: it takes no thread count), every face "
        "classified on every frame (no stride), every task; "
        "Pi 4 at 1.5-1.8 GHz, Pi 5 at 2.4 GHz (the published A76 board runs at 2.25 GHz).",
        "",
        "int8: the Pi 4's Cortex-A72 has no dot-product instructions (sdot/udot), so int8 kernels widen "
        "and multiply-accumulate in 16 bits and gain little over fp32; OpenCV's int8 model is even slower "
        "than its fp32 one on both boards as published (35.7 against 27.8 ms on the Pi 4, 17.1 against "
        "12.4 on the A76 board). The Pi 5's Cortex-A76 has them, and onnxruntime's and XNNPACK's int8 "
        "kernels use them: int8 is expected to help there. OpenCV's int8 kernels are a weak proxy for "
        "onnxruntime's and LiteRT's, so the int8 rows' range takes in the fp32 one too (the widest rows).",
        "",
    ]


def detector_lines(r: dict) -> list[str]:
    """Which BlazeFace engine the detector figures are of, and (estimating) its time here."""
    here = r.get("here", {})
    if r["measured"]:
        return [f"Detector: BlazeFace short-range on {here.get('detector_engine') or 'MediaPipe'} here.", ""]
    by = here.get("detect_ms_by_engine")
    if not by:
        return []
    per = ", ".join(f"{e} {ms:.2f} ms" for e, ms in by.items())
    return [
        f"Detector here (BlazeFace short-range, 640x480, per frame): {per}. MediaPipe's aarch64 build "
        "needs ARMv8.1 atomics (LSE), which the Pi 4's Cortex-A72 (ARMv8.0) lacks: it stops with SIGILL "
        "there, so on a Pi 4 the runtime runs the same file on LiteRT with MediaPipe's decoding "
        "(runtime/blazeface_litert.py). Each board's rows are of the engine that runs on it: "
        + ", ".join(f"{d.split(' (')[0]} {x['detector']}" for d, x in DEVICES.items())
        + ".",
        "",
    ]


def instruction_lines(r: dict) -> list[str]:
    """The instruction counts behind the ``instructions`` rows, when there are any."""
    if "instructions" not in r:
        return []
    c = r["instructions"]["cpus"]
    names = ["detect", "yunet_fp32", "fer_int8", *sorted(k for k in c[CPU_OF["pi4"]] if "/" in k)]
    counts = [[n, *(f"{c[CPU_OF[b]][n] / 1e6:.1f}" for b in CPU_OF)] for n in names]
    ns = [f"{b} {lo:.2f}–{hi:.2f} ns" for b, (lo, hi) in r["ns_per_instruction"].items()]
    engines = r["instructions"].get("detector_engine", {})
    counted = "; ".join(f"-cpu {cpu}: {e}" for cpu, e in engines.items())
    return [
        f"Instructions per call (millions), counted under qemu-user {r['instructions']['qemu']} with "
        "scripts/count_aarch64.sh (every thread, one-thread engines; each library takes the kernels it "
        "takes on that core). A board's time is its instructions times its ns per instruction, from the "
        f"calibration models' one-thread times over their instructions ({'; '.join(ns)}); the ratio "
        "route's FPS stays beside each row as a cross-check."
        + (f" The detector as counted ran on: {counted}." if counted else ""),
        "",
        *table(["stage", *(f"-cpu {CPU_OF[b]}" for b in CPU_OF)], counts, "lrr"),
        "",
    ]


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
            *([span(x["fps_by_ratio"])] if "fps_by_ratio" in x else []),
        ]
        for x in r["rows"]
    ]
    by_ratio = any("fps_by_ratio" in x for x in r["rows"])
    head = "# Raspberry Pi figures: " + ("measured" if r["measured"] else "ESTIMATES, not measured on a Pi")
    lines = [
        head,
        "",
        f"`{r['command']}`, {r['when']}, measured on {r['cpu']} ({r['machine']}).",
        "",
    ]
    lines += detector_lines(r)
    if not r["measured"]:
        lines += calibration_lines(r) + instruction_lines(r)
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
            *(["FPS by ratio"] if by_ratio else []),
        ],
        rows,
        "llllrrrrrl" + ("r" if by_ratio else ""),
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
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per classifier (median)")
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="calls per classifier and round, median (default 100; 30 with --measured: a minute on a Pi 4)",
    )
    p.add_argument(
        "--calib-python",
        type=Path,
        default=ROOT / ".venv-calib" / "bin" / "python",
        help="a Python with OpenCV 4.10 (requirements/pi-calibration.txt; make pi-estimate sets it up)",
    )
    a = p.parse_args(argv)
    import platform

    threads = THREADS if a.measured else (1, 2)
    if a.repeats is None:
        a.repeats = 30 if a.measured else 100
    if min(a.frames, a.rounds, a.repeats) < 1:
        p.error("--frames, --rounds and --repeats must be at least 1")
    here = measure_stages(threads, a.frames, a.rounds, a.repeats, both_engines=not a.measured)
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
        r["rows"] = measured_rows(here, r["cpu"])
        stem = a.output or RESULTS / f"pi_measured_{_slug(r['cpu'])}"
    else:
        if not (ANCHORS / YUNET).is_file():
            print(f"error: {ANCHORS} has no calibration models; the estimate needs them", file=sys.stderr)
            return 2
        anchors = time_anchors(a.calib_python)
        r["opencv"] = anchors["opencv"]
        r["anchors_here_ms"] = anchors["ms"]
        r["speedups_2_threads"] = speedups(anchors["ms"])
        r["ratios"] = {b: {k: list(v) for k, v in x.items()} for b, x in ratios(anchors["ms"]).items()}
        r["cross_check"] = {
            b: {k: list(v) for k, v in x.items()} for b, x in cross_check(anchors["ms"]).items()
        }
        counts = current_counts(INSTRUCTIONS)
        if counts:
            r["instructions"] = counts
            r["ns_per_instruction"] = {b: ns_per_instruction(counts, anchors["ms"], b) for b in CPU_OF}
        r["rows"] = estimate(here, r["anchors_here_ms"], counts)
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
