"""Bring a face source to the runtime's framing before a model learns from it.

Every source frames a face its own way (ExpW: 1.5x its own detector's box; CelebA: the whole
head; All-Age-Faces: a wide canvas with black corners), while the runtime feeds a model the
crop its card's rule cuts from a BlazeFace box. So each new source is put through the
runtime's own steps: BlazeFace on the image (upscaled, inside a neutral border, as
``export.calibrate_crop`` measures), the face turned upright from the eye keypoints when the
runtime would turn it, the crop rule of the model to be trained (read from its card), and
the resize to its input. The faces then look to the model exactly as a camera frame's do.
Images where BlazeFace finds no face get the source's median box (relative to the image)
and are flagged ``detected = False``.

Runs in the runtime environment (MediaPipe, no TensorFlow):
``python -m train.reframe --data SRC.npz --model trained_models/<run> --output OUT.npz``.
The output is a shared-layout .npz (raw ``x_<split>`` arrays) that ``--data`` reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from runtime.card import CardError, card_path_for, read_card
from runtime.cli import OneLineParser
from runtime.detection import Detection, Detector
from runtime.detector import detector_names, open_detector
from runtime.model_folder import keras_path
from runtime.options import RuntimeConfig
from runtime.preprocess import Box, InputSpec, applied_rolls, resize, to_colour, to_uint8, upright_crop
from train.datasets import load_dataset
from train.datasets.base import DatasetError, FaceDataset

DETECT_SIDE = 256  # images are upscaled to this side before the border is added
BORDER = 0.5  # neutral border on each side, as a fraction of the side
KEPT_META = ("age", "source", "group", "label_conflict", "identity")


def locate_face(image: np.ndarray, order: str, detector: Detector) -> tuple[Box, float, tuple] | None:
    """The most confident BlazeFace face of a face image: (box, roll, (x, y, w, h) unrounded),
    in the image's own pixels, or None.

    Small chips are upscaled and set in a neutral border, so a face that fills (or is cut by)
    the image is still found; the box is mapped back to the original coordinates."""
    img = to_uint8(np.asarray(image))
    bgr = cv2.cvtColor(to_colour(img, "rgb", order), cv2.COLOR_RGB2BGR)  # type: ignore[arg-type]
    h, w = bgr.shape[:2]
    k = DETECT_SIDE / max(h, w)
    big = cv2.resize(bgr, (round(w * k), round(h * k)), interpolation=cv2.INTER_LINEAR)
    pad = round(DETECT_SIDE * BORDER)
    canvas = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127,) * 3)
    dets = detector.detect(canvas)
    if not dets:
        return None
    best = max(dets, key=lambda d: d.score)
    b = best.box
    exact = ((b.x - pad) / k, (b.y - pad) / k, b.w / k, b.h / k)
    box = Box(round(exact[0]), round(exact[1]), max(1, round(exact[2])), max(1, round(exact[3])))
    return box, best.roll, exact


def detect_face(image: np.ndarray, order: str, detector: Detector) -> Detection | None:
    """:func:`locate_face` as the detection the runtime would act on."""
    found = locate_face(image, order, detector)
    return None if found is None else Detection(found[0], 1.0, found[1])


def median_box(found: list[tuple[float, float, float, float]], h: int, w: int) -> Box:
    """The median of boxes given as fractions (x, y, w, h) of their images, in an h x w image."""
    fx, fy, fw, fh = np.median(np.asarray(found), axis=0)
    return Box(round(fx * w), round(fy * h), max(1, round(fw * w)), max(1, round(fh * h)))


def reframe(ds: FaceDataset, spec: InputSpec, detector: Detector, min_roll: float) -> FaceDataset:
    """Every face of ``ds`` as the runtime would feed it to a model with input ``spec``."""
    n = len(ds)
    dets: list[Detection | None] = [detect_face(ds.images[i], ds.order, detector) for i in range(n)]
    found = []
    for i, d in enumerate(dets):
        if d is not None:
            h, w = ds.images[i].shape[:2]
            found.append((d.box.x / w, d.box.y / h, d.box.w / w, d.box.h / h))
    if len(found) < max(1, n // 5):
        raise DatasetError(
            f"{ds.name}: BlazeFace found a face in only {len(found)} of {n} images; "
            "these are not face crops the runtime could see"
        )
    out = np.empty((n, *spec.shape), np.uint8)
    for i, d in enumerate(dets):
        img = to_uint8(np.asarray(ds.images[i]))
        h, w = img.shape[:2]
        box, roll = (d.box, applied_rolls([d.roll], min_roll)[0]) if d else (median_box(found, h, w), 0.0)
        face = upright_crop(to_colour(img, spec.colour, ds.order), box, spec.crop, roll)
        out[i] = resize(face, spec.height, spec.width).reshape(spec.shape)
    meta = {k: v for k, v in ds.meta.items() if k in KEPT_META}
    meta["detected"] = np.array([d is not None for d in dets])
    images = out[..., 0] if spec.channels == 1 else out
    return FaceDataset(ds.name, images, ds.labels, ds.label_names, spec.colour, None, meta)


def drop_flagged(ds: FaceDataset, flags: list[str]) -> FaceDataset:
    """Leave out the faces a source flags (e.g. ExpW's ``fer2013_copy``: photos also in FER2013)."""
    keep = np.ones(len(ds), bool)
    for f in flags:
        if f not in ds.meta:
            raise DatasetError(f"{ds.name} has no per-image flag {f!r} to drop by")
        keep &= ~ds.meta[f].astype(bool)
    return ds.subset(np.flatnonzero(keep))


def save_npz(ds: FaceDataset, split: str, path: Path) -> None:
    """Write the shared raw layout (``x_<split>``, ``y_<split>``, ``<meta>_<split>``) atomically."""
    import io

    from runtime.card import atomic_write_bytes

    arrays = {f"x_{split}": ds.images, f"y_{split}": ds.labels.astype(np.uint8)}
    arrays.update({f"{k}_{split}": v for k, v in ds.meta.items()})
    arrays["class_names"] = np.array(ds.label_names)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(
        prog="python -m train.reframe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", required=True, help="a face source (.npz in the shared layout, or any loader format)"
    )
    p.add_argument(
        "--model", required=True, help="trained model folder whose card's input and crop rule to use"
    )
    p.add_argument("--output", required=True, help="the reframed .npz to write")
    p.add_argument("--drop", nargs="*", default=[], help="per-image flags whose faces to leave out")
    p.add_argument("--detector", choices=detector_names(), default=RuntimeConfig.detector)
    a = p.parse_args(argv)
    try:
        card = read_card(card_path_for(keras_path(Path(a.model))))
        ds = drop_flagged(load_dataset(a.data, task=card.task), a.drop)
        if ds.label_names != card.labels:
            raise DatasetError(f"{a.data} labels {ds.label_names} differ from {card.name}'s {card.labels}")
        with open_detector(a.detector, min_score=RuntimeConfig.min_score) as det:
            out = reframe(ds, card.input, det, RuntimeConfig.align_min_roll)
        out_path = Path(a.output)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        split = out_path.stem.rsplit("_", 1)[-1] if "_" in out_path.stem else "train"
        save_npz(out, split, out_path)
        found = int(out.meta["detected"].sum())
        print(
            f"{a.data}: {len(out)} faces reframed for {card.name} ({found} found by BlazeFace) -> {out_path}"
        )
    except (DatasetError, CardError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
