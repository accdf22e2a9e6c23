"""The reference demo's pipeline, measured on our frames and scored on our splits.

As the seed's video demo does it: OpenCV Haar cascade ``detectMultiScale(gray, 1.3, 5)``,
then per face a Keras ``predict`` of the mini-Xception emotion model (crop = box +/- 20, 40
px) and gender model (box +/- 30, 60 px), 64x64 gray, x/255 then (x - 0.5) * 2.

It needs Keras, so it runs in the training environment, as a subprocess of the benchmark
(``python -m benchmarks.reference --frames F.npz --anchors DIR --json OUT``); the lean
runtime never imports it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from runtime.cli import OneLineParser
from runtime.metrics import latency_summary

EMOTION = "face_classification/trained_models/emotion_models/fer2013_mini_XCEPTION.102-0.66.hdf5"
GENDER = "face_classification/trained_models/gender_models/gender_mini_XCEPTION.21-0.95.hdf5"
CASCADE = "face_classification/trained_models/detection_models/haarcascade_frontalface_default.xml"
EMOTION_OFFSETS, GENDER_OFFSETS = (20, 40), (30, 60)


def reference_files(anchors: Path) -> dict[str, Path] | None:
    files = {"emotion": anchors / EMOTION, "gender": anchors / GENDER, "cascade": anchors / CASCADE}
    return files if all(p.is_file() for p in files.values()) else None


def preprocess(gray_face: np.ndarray, size: int = 64) -> np.ndarray:
    x = cv2.resize(gray_face, (size, size)).astype(np.float32) / 255.0
    return ((x - 0.5) * 2.0)[None, :, :, None]


def offset_crop(gray: np.ndarray, box: tuple[int, int, int, int], offsets: tuple[int, int]) -> np.ndarray:
    x, y, w, h = box
    ox, oy = offsets
    return gray[max(0, y - oy) : y + h + oy, max(0, x - ox) : x + w + ox]


def time_reference(frames: np.ndarray, files: dict[str, Path], warmup: int) -> dict:
    import keras

    emotion = keras.models.load_model(files["emotion"], compile=False)
    gender = keras.models.load_model(files["gender"], compile=False)
    cascade = cv2.CascadeClassifier(str(files["cascade"]))
    stages: dict[str, list[float]] = {"detect": [], "emotion": [], "gender": []}
    total, faces = [], []
    for i in range(warmup + len(frames)):
        frame = frames[i % len(frames)] if i < warmup else frames[i - warmup]
        t0 = time.perf_counter()
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = cascade.detectMultiScale(gray, 1.3, 5)
        t1 = time.perf_counter()
        te = tg = 0.0
        for box in boxes:
            a = time.perf_counter()
            emotion.predict(preprocess(offset_crop(gray, box, EMOTION_OFFSETS)), verbose=0)
            b = time.perf_counter()
            gender.predict(preprocess(offset_crop(gray, box, GENDER_OFFSETS)), verbose=0)
            te, tg = te + b - a, tg + time.perf_counter() - b
        t2 = time.perf_counter()
        if i >= warmup:
            stages["detect"].append(1000 * (t1 - t0))
            stages["emotion"].append(1000 * te)
            stages["gender"].append(1000 * tg)
            total.append(1000 * (t2 - t0))
            faces.append(len(boxes))
    return {
        "stages": {k: latency_summary(v) for k, v in stages.items()},
        "frame": latency_summary(total),
        "fps": round(1000 / float(np.mean(total)), 2),
        "faces_per_frame": round(float(np.mean(faces)), 2),
    }


def score_reference(files: dict[str, Path], specs: list[str]) -> dict:
    """The reference models on our evaluation splits, with their own preprocessing."""
    import keras

    from runtime.card import EMOTION_LABELS, GENDER_LABELS
    from runtime.metrics import classification_metrics
    from train.datasets import load_dataset
    from train.evaluate import split_name

    out = {}
    for spec in specs:
        for task, labels in (("emotion", EMOTION_LABELS), ("gender", GENDER_LABELS)):
            try:
                ds = load_dataset(spec, task=task)
            except Exception:
                continue
            if ds.label_names != list(labels):
                continue
            model = keras.models.load_model(files[task], compile=False)
            x = np.empty((len(ds), 64, 64, 1), np.float32)
            for i in range(len(ds)):
                img = np.asarray(ds.images[i])
                if img.ndim == 3 and img.shape[2] == 3:  # the demo reads RGB, then converts
                    code = cv2.COLOR_RGB2GRAY if ds.order == "rgb" else cv2.COLOR_BGR2GRAY
                    img = cv2.cvtColor(img, code)
                x[i] = preprocess(img.reshape(img.shape[:2]))[0]
            probs = model.predict(x, batch_size=256, verbose=0)
            m = classification_metrics(ds.labels, probs, list(labels), ds.meta)
            keep = ("n", "accuracy", "balanced_accuracy", "accuracy_by_class", "woman_man_gap", "by_age")
            out[f"{task}:{split_name(spec)}"] = {k: m[k] for k in keep if k in m}
    return out


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m benchmarks.reference", description=__doc__)
    p.add_argument("--anchors", type=Path, required=True)
    p.add_argument("--frames", type=Path, default=None, help=".npz of frames to time on")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--data", nargs="*", default=[], help="evaluation splits to score on")
    p.add_argument("--json", type=Path, required=True)
    a = p.parse_args(argv)
    from train.tfenv import import_tensorflow

    import_tensorflow()
    files = reference_files(a.anchors)
    if files is None:
        print(f"error: the reference models are not in {a.anchors}", file=sys.stderr)
        return 2
    result: dict = {"files": {k: str(v) for k, v in files.items()}}
    if a.frames:
        with np.load(a.frames) as z:
            result["speed"] = {k: time_reference(z[k], files, a.warmup) for k in z.files}
    if a.data:
        result["accuracy"] = score_reference(files, a.data)
    a.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
