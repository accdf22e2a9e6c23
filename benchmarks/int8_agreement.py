"""int8 against float32, file against file, on this CPU: top-1 agreement, accuracy, smoothness.

The int8 kernels of onnxruntime and LiteRT differ between CPU classes (x86-64 with AVX2
only, x86-64 with AVX-512 VNNI, ARM64), so an int8 file verified on one machine can
disagree with its float32 twin on another. This runs, for each model folder, the int8 and
float32 exports of each format through the runtime's own engines (``FaceClassifier``, the
card's checksum checked) on the same prepared faces:

* the model's evaluation split (``config.json``'s ``eval_data``, e.g. FER2013 PublicTest or
  the UTKFace gender val set), prepared by ``runtime.preprocess.prepare_crop`` with the
  card's ``InputSpec``, as export verification prepares them;
* the BlazeFace (short-range) detector crops of every frame of the demo clips, prepared by
  ``FaceClassifier.prepare`` with the card's crop rule, as the live runtime prepares them.

It needs the lean runtime only (no TensorFlow), so it also runs under qemu-user and in the
emulated arm64 root. Preparing faces (and detecting them) natively once and replaying them
under emulation keeps emulated runs to the engines alone::

    python -m benchmarks.int8_agreement --save-inputs .cache/int8_inputs.npz   # native
    qemu-x86_64 -cpu Haswell .venv-runtime/bin/python -m benchmarks.int8_agreement \\
        --inputs .cache/int8_inputs.npz --limit 300 --no-timing

The cached inputs are stored as the uint8 pixels before normalisation (checked to give back
the very same float32 inputs) with each card's ``input`` section; a card whose input rule
has changed since refuses them. Timing under emulation means nothing: pass ``--no-timing``.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.cli import OneLineParser
from runtime.model_folder import BACKENDS, card_path, export_path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("fer_woman2.mp4", "fer_test.mp4", "face_recognition_short_hamilton_clip.mp4")
FORMATS = tuple(BACKENDS)
CLIP_SPLIT = "clips"


@dataclass
class Faces:
    """Prepared model inputs of one split for one model (labels -1 where there are none)."""

    x: np.ndarray  # (N, H, W, C) float32, normalised as the card says
    labels: np.ndarray  # (N,) int64

    @property
    def labelled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def pick(self, limit: int | None) -> np.ndarray:
        """Indices of at most ``limit`` faces spread evenly over the split (all without one)."""
        if not limit or limit >= len(self.x):
            return np.arange(len(self.x))
        return np.unique(np.linspace(0, len(self.x) - 1, limit).round().astype(int))


# ---------------------------------------------------------------- the CPU this runs on


def cpu_info() -> dict:
    """What this process's CPU can do (CPUID as numpy reads it: under qemu-user, the emulated
    CPU) and what ``lscpu`` says (under qemu-user, the host: recorded, not trusted)."""
    machine = platform.machine()
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as feats
    keys = ("AVX2", "FMA3", "AVX512F", "AVX512VNNI") if machine == "x86_64" else ("ASIMD", "ASIMDDP", "SVE")
    seen = {k.lower(): bool(feats.get(k)) for k in keys}
    if machine in ("aarch64", "arm64"):
        cls = "aarch64"
    elif machine == "x86_64":
        cls = (
            "x86-64-avx512-vnni"
            if seen.get("avx512vnni")
            else "x86-64-avx2"
            if seen.get("avx2")
            else "x86-64-sse"
        )
    else:
        cls = machine
    lscpu = {}
    if shutil.which("lscpu"):
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
            info = {
                k.strip(): v.strip()
                for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)
            }
            flags = set(info.get("Flags", "").split())
            lscpu = {
                "model_name": info.get("Model name", ""),
                "flags": sorted(
                    flags & {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "asimd", "asimddp", "sve"}
                ),
            }
        except (OSError, subprocess.SubprocessError):
            pass
    return {"class": cls, "machine": machine, "features_seen_by_this_process": seen, "lscpu": lscpu}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("onnxruntime", "ai-edge-litert", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


# ---------------------------------------------------------------- inputs


def _eval_specs(folder: Path) -> list[str]:
    cfg = folder / "config.json"
    specs = json.loads(cfg.read_text()).get("eval_data", []) if cfg.exists() else []
    if not specs:
        raise ValueError(f"{folder}: no evaluation data in config.json; pass --eval DATA")
    return [s if Path(s.partition("::")[0]).is_absolute() else str(ROOT / s) for s in specs]


def prepare_split(card, spec: str) -> tuple[str, Faces]:
    """One labelled evaluation split through ``prepare_crop`` with the card's InputSpec."""
    from runtime.preprocess import prepare_batch
    from train.evaluate import load_for, split_name

    ds = load_for(card, spec)
    return split_name(spec), Faces(prepare_batch(ds.images, card.input, ds.order), ds.labels.astype(np.int64))


def detect_clip_boxes(clips: list[Path], every: int = 1) -> list[tuple[np.ndarray, list, list]]:
    """(frame, boxes, rolls) of every frame with a face, BlazeFace short-range as the runtime
    runs it."""
    import cv2

    from runtime.blazeface import FaceDetector

    out = []
    with FaceDetector("short") as det:
        for clip in clips:
            cap = cv2.VideoCapture(str(clip))
            if not cap.isOpened():
                raise FileNotFoundError(f"cannot open {clip}")
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if i % every == 0:
                    dets = det.detect(frame)
                    if dets:  # boxes and eye-line rolls, as the runtime aligns them
                        out.append((frame, [d.box for d in dets], [getattr(d, "roll", 0.0) for d in dets]))
                i += 1
            cap.release()
    return out


def prepare_clip_faces(clf, frames: list[tuple[np.ndarray, list, list]], align: bool = True) -> Faces:
    """Detector crops through ``FaceClassifier.prepare`` (the model's own crop rule; turned
    upright from the eye keypoints by the runtime's rule, ``RuntimeConfig.align_min_roll``:
    only faces tilted at least that much, unless told ``--no-align``)."""
    from runtime.options import RuntimeConfig
    from runtime.preprocess import applied_rolls

    min_roll = RuntimeConfig().align_min_roll

    def prepared(frame, boxes, rolls):
        rolls = applied_rolls(rolls, min_roll)
        if align and any(rolls):
            return clf.prepare(frame, boxes, rolls=rolls).copy()
        return clf.prepare(frame, boxes).copy()

    parts = [prepared(*f) for f in frames]
    x = np.concatenate(parts) if parts else np.empty((0, *clf.card.input.shape), np.float32)
    return Faces(x, np.full(len(x), -1, np.int64))


def _to_pixels(x: np.ndarray, norm) -> np.ndarray:
    """The uint8 pixels a normalised batch came from; refuses anything that would not
    round-trip bit for bit through ``runtime.preprocess.normalize``."""
    from runtime.preprocess import normalize

    u8 = np.clip(np.round((x - norm.offset) / norm.scale), 0, 255).astype(np.uint8)
    if not np.array_equal(normalize(u8, norm), x):
        raise ValueError("prepared inputs are not uint8 pixels normalised; cannot cache them")
    return u8


def _input_rule(card) -> dict:
    """What decides a prepared face: the card's input section without its prose."""
    spec = card.input.to_dict()
    spec["crop"] = {k: v for k, v in spec.get("crop", {}).items() if k != "framing"}
    return json.loads(json.dumps(spec, sort_keys=True))


def save_inputs(
    path: Path,
    inputs: dict[str, dict[str, Faces]],
    cards: dict,
    note: str = "",
    references: dict[str, np.ndarray] | None = None,
) -> None:
    """The prepared faces (as uint8 pixels) and, to spare emulated runs the float32 model,
    the float32 files' probabilities on them with each file's checksum."""
    arrays = {"note": np.array(note), **{f"ref:{k}": v for k, v in (references or {}).items()}}
    for model, splits in inputs.items():
        arrays[f"{model}/input_spec"] = np.array(json.dumps(_input_rule(cards[model])))
        for split, f in splits.items():
            arrays[f"{model}/{split}/pixels"] = _to_pixels(f.x, cards[model].input.normalization)
            arrays[f"{model}/{split}/labels"] = f.labels
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_references(path: Path) -> dict[str, np.ndarray]:
    data = np.load(path)
    return {k[4:]: data[k] for k in data.files if k.startswith("ref:")}


def load_inputs(path: Path, cards: dict) -> dict[str, dict[str, Faces]]:
    from runtime.preprocess import normalize

    data = np.load(path)
    out: dict[str, dict[str, Faces]] = {}
    for model, card in cards.items():
        key = f"{model}/input_spec"
        if key not in data:
            raise ValueError(f"{path} holds no inputs for {model}; re-run with --save-inputs")
        if json.loads(str(data[key])) != _input_rule(card):
            raise ValueError(
                f"{path}: {model}'s card input (crop rule, size or normalisation) "
                "changed since the inputs were saved; re-run with --save-inputs"
            )
        out[model] = {}
        for k in data.files:
            if k.startswith(f"{model}/") and k.endswith("/pixels"):
                split = k[len(model) + 1 : -len("/pixels")]
                out[model][split] = Faces(
                    normalize(data[k], card.input.normalization),
                    data[f"{model}/{split}/labels"].astype(np.int64),
                )
    return out


# ---------------------------------------------------------------- comparison


def run_engine(clf, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Raw engine probabilities (no renormalisation: steps must show)."""
    out = [clf.engine.predict(x[s : s + batch]) for s in range(0, len(x), batch)]
    return (np.concatenate(out) if out else np.empty((0, len(clf.labels)), np.float32)).astype(np.float32)


def compare(ref: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> dict:
    n = len(labels)
    row = {
        "n": int(n),
        "top1_agreement": round(float((ref.argmax(1) == probs.argmax(1)).mean()), 6) if n else None,
        "disagreements": int((ref.argmax(1) != probs.argmax(1)).sum()),
        "max_abs_diff": round(float(np.abs(ref - probs).max()), 6) if n else None,
        # float outputs take (almost) as many values as there are probabilities; a
        # quantized output at most 256
        "distinct_int8_probabilities": int(len(np.unique(probs))),
        "distinct_fp32_probabilities": int(len(np.unique(ref))),
    }
    if n and (labels >= 0).all():
        acc32 = float((ref.argmax(1) == labels).mean())
        acc8 = float((probs.argmax(1) == labels).mean())
        row.update(
            fp32_accuracy=round(acc32, 6),
            int8_accuracy=round(acc8, 6),
            accuracy_drop_points=round(100 * (acc32 - acc8), 4),
        )
    return row


def measure(
    folders: list[Path],
    inputs: dict[str, dict[str, Faces]],
    formats: tuple[str, ...],
    threads: int = 1,
    timing: bool = True,
    limit: int | None = None,
    references: dict[str, np.ndarray] | None = None,
    check_fp32: int = 16,
    log=print,
) -> tuple[list[dict], list[dict], dict[str, np.ndarray]]:
    """One row per model, format and split; the ms-per-face timings; and the float32
    probabilities of every full split run here (to cache with the inputs).

    ``references`` (from ``--save-inputs``) stand in for the float32 file when they were
    made by a file with the same checksum; the float32 file still runs on the first
    ``check_fp32`` faces and the row records how far it is from them."""
    from runtime.backends import single_face_ms
    from runtime.card import sha256_of
    from runtime.classifier import FaceClassifier

    rows, speed, made = [], [], {}
    references = references or {}
    for folder in folders:
        for fmt in formats:
            f32, i8 = export_path(folder, fmt, "fp32"), export_path(folder, fmt, "int8")
            if not (f32.is_file() and i8.is_file()):
                log(f"  {folder.name}: no {f32.name} / {i8.name}, skipped")
                continue
            a, b = FaceClassifier.open(f32, threads), FaceClassifier.open(i8, threads)
            sha = sha256_of(f32)
            for split, faces in inputs[a.card.name].items():
                idx = faces.pick(limit)
                x, labels = faces.x[idx], faces.labels[idx]
                t0 = time.perf_counter()
                key = f"{a.card.name}/{fmt}/{split}"
                cached = references.get(key)
                extra: dict = {}
                if (
                    cached is not None
                    and str(references.get(f"{key}/sha256")) == sha
                    and len(cached) == len(faces.x)
                ):
                    ref = cached[idx]
                    k = min(check_fp32, len(idx))
                    here = run_engine(a, x[:k])
                    extra["fp32_reference"] = {
                        "source": "cached with the inputs (same fp32 file)",
                        "checked_here": k,
                        "max_abs_diff": round(float(np.abs(here - ref[:k]).max()), 7) if k else None,
                        "top1_agreement": float((here.argmax(1) == ref[:k].argmax(1)).mean()) if k else None,
                    }
                else:
                    ref = run_engine(a, x)
                    extra["fp32_reference"] = {"source": "run here"}
                    if len(idx) == len(faces.x):
                        made[key], made[f"{key}/sha256"] = ref, np.array(sha)
                row = {
                    "model": a.card.name,
                    "task": a.card.task,
                    "format": fmt,
                    "split": split,
                    **compare(ref, run_engine(b, x), labels),
                    **extra,
                }
                rows.append(row)
                log(f"  {a.card.name} {fmt} {split}: " + _line(row) + f" ({time.perf_counter() - t0:.0f} s)")
            if timing:
                face = next(iter(inputs[a.card.name].values())).x[0]
                speed.append(
                    {
                        "model": a.card.name,
                        "format": fmt,
                        "fp32_ms": single_face_ms(a.engine, face, 300),
                        "int8_ms": single_face_ms(b.engine, face, 300),
                    }
                )
                log(
                    f"  {a.card.name} {fmt}: {speed[-1]['fp32_ms']:.3f} ms fp32, "
                    f"{speed[-1]['int8_ms']:.3f} ms int8 per face, {threads} thread(s)"
                )
    return rows, speed, made


def _line(row: dict) -> str:
    s = f"{row['n']} faces, top-1 agreement {100 * row['top1_agreement']:.2f} %" if row["n"] else "no faces"
    if "int8_accuracy" in row:
        s += (
            f", accuracy int8 {100 * row['int8_accuracy']:.2f} % vs fp32 "
            f"{100 * row['fp32_accuracy']:.2f} % ({row['accuracy_drop_points']:+.2f} points drop)"
        )
    s += f", {row['distinct_int8_probabilities']} distinct int8 probabilities"
    ref = row.get("fp32_reference", {})
    if ref.get("checked_here"):
        s += f" [fp32 cached; rerun here on {ref['checked_here']}: max diff {ref['max_abs_diff']:.1e}]"
    return s


def markdown(report: dict) -> str:
    cpu = report["cpu"]
    host = cpu["lscpu"].get("model_name") or cpu["machine"]
    flags = ", ".join(cpu["lscpu"].get("flags", [])) or "–"
    where = (
        f"emulated by {report['emulation']} on a {host} host (lscpu reports the host: {flags})"
        if report.get("emulation")
        else f"{host} (lscpu flags: {flags})"
    )
    lines = [
        f"# int8 vs float32 agreement on {cpu['class']}",
        "",
        f"CPU: {where}; features this process sees (CPUID, as numpy reads it): "
        + (", ".join(k for k, v in cpu["features_seen_by_this_process"].items() if v) or "–")
        + ".",
        "",
        f"Command: `{report['command']}`",
        "",
        "| model | format | split | faces | top-1 agreement | fp32 acc | int8 acc | drop "
        "(points) | max abs diff | distinct int8 probs |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:

        def pct(k: str, r: dict = r) -> str:
            return f"{100 * r[k]:.2f} %" if r.get(k) is not None else "–"

        lines.append(
            f"| {r['model']} | {r['format']} | {r['split']} | {r['n']} | "
            f"{pct('top1_agreement')} | {pct('fp32_accuracy')} | {pct('int8_accuracy')} | "
            f"{r.get('accuracy_drop_points', '–')} | {r['max_abs_diff']} | "
            f"{r['distinct_int8_probabilities']} |"
        )
    if report["latency"]:
        lines += ["", "| model | format | fp32 ms per face | int8 ms per face |", "|---|---|---:|---:|"]
        lines += [
            f"| {s['model']} | {s['format']} | {s['fp32_ms']:.3f} | {s['int8_ms']:.3f} |"
            for s in report["latency"]
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m benchmarks.int8_agreement", description=__doc__.split("\n")[0])
    p.add_argument(
        "--model",
        nargs="+",
        default=None,
        help="model folders (default: every shipped one, both tiers, trained_models/shipped.json)",
    )
    p.add_argument(
        "--eval",
        nargs="+",
        default=None,
        metavar="DATA",
        help="labelled data to compare on (default: each run's config.json eval_data; "
        "a split of the other task is skipped)",
    )
    p.add_argument(
        "--clips",
        nargs="*",
        default=None,
        help=f"videos whose detector crops are compared (default: {', '.join(CLIPS)} "
        "from ../shared/media; none: no clips)",
    )
    p.add_argument(
        "--no-align",
        dest="align",
        action="store_false",
        help="clip crops not turned upright from the eye keypoints (the runtime's --no-align)",
    )
    p.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="at most this many faces per split, evenly spread (for emulation)",
    )
    p.add_argument(
        "--inputs",
        type=Path,
        default=None,
        help="prepared faces saved by --save-inputs (no data, detector or clips needed)",
    )
    p.add_argument(
        "--save-inputs", type=Path, default=None, help="write the prepared faces to this .npz and continue"
    )
    p.add_argument(
        "--check-fp32",
        type=int,
        default=16,
        metavar="N",
        help="with cached float32 probabilities (--inputs), still run the float32 file "
        "on the first N faces of each split and report the difference",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--no-timing",
        dest="timing",
        action="store_false",
        help="skip the ms-per-face timing (always, under emulation)",
    )
    p.add_argument(
        "--emulation",
        default="",
        help="say how this CPU is emulated (recorded), e.g. 'qemu-x86_64 -cpu Haswell'",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON report (default benchmarks/results/int8_agreement_<cpu class>.json; "
        "a .md twin is written beside it)",
    )
    p.add_argument(
        "--markdown-from",
        type=Path,
        default=None,
        metavar="JSON",
        help="only rewrite the Markdown twin of an existing JSON report",
    )
    a = p.parse_args(argv)

    if a.markdown_from:  # rewrite the .md twin of an existing report
        report = json.loads(a.markdown_from.read_text())
        a.markdown_from.with_suffix(".md").write_text(markdown(report))
        return 0

    from runtime.card import read_card
    from runtime.model_folder import shipped_folders
    from train.datasets.base import DatasetError

    folders = [Path(m) for m in a.model] if a.model else shipped_folders()
    cards = {}
    for folder in folders:
        card = read_card(card_path(folder))
        cards[card.name] = card
    by_folder = dict(zip([f.name for f in folders], cards))
    cpu = cpu_info()
    print(f"CPU class {cpu['class']} ({cpu['lscpu'].get('model_name', cpu['machine'])})", flush=True)

    if a.inputs:
        inputs = load_inputs(a.inputs, cards)
    else:
        from runtime.classifier import FaceClassifier

        inputs = {name: {} for name in cards}
        for folder in folders:
            name = by_folder[folder.name]
            for spec in a.eval or _eval_specs(folder):
                try:
                    split, faces = prepare_split(cards[name], spec)
                except DatasetError:
                    continue  # data of the other task
                inputs[name][split] = faces
        clips = (
            [Path(c) for c in a.clips]
            if a.clips is not None
            else [ROOT.parent / "shared" / "media" / c for c in CLIPS]
        )
        if clips:
            frames = detect_clip_boxes(clips)
            for folder in folders:
                name = by_folder[folder.name]
                clf = FaceClassifier.open(export_path(folder, "onnx", "fp32"))
                inputs[name][CLIP_SPLIT] = prepare_clip_faces(clf, frames, a.align)
        for name, splits in inputs.items():
            print(f"{name}: " + ", ".join(f"{s} {len(f.x)} faces" for s, f in splits.items()), flush=True)
        from runtime.options import RuntimeConfig

        note = json.dumps(
            {
                "clips": [c.name for c in clips],
                "align": a.align,
                "align_min_roll": RuntimeConfig().align_min_roll,
            }
        )

    references = load_references(a.inputs) if a.inputs else {}
    rows, speed, made = measure(
        folders,
        inputs,
        tuple(a.formats),
        a.threads,
        a.timing,
        a.limit,
        references,
        a.check_fp32,
        log=lambda s: print(s, flush=True),
    )
    if a.save_inputs and not a.inputs:
        save_inputs(a.save_inputs, inputs, cards, note, made)
        print(f"inputs (and float32 probabilities) saved to {a.save_inputs}", flush=True)
    report = {
        "cpu": cpu,
        "emulation": a.emulation,
        "versions": versions(),
        "command": " ".join(["python -m benchmarks.int8_agreement", *(argv or sys.argv[1:])]),
        "limit": a.limit,
        "threads": a.threads,
        "inputs": str(a.inputs or "prepared here"),
        "rows": rows,
        "latency": speed,
    }
    out = a.out or ROOT / "benchmarks" / "results" / f"int8_agreement_{cpu['class']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
