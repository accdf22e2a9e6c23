"""Measure how a model's training images frame a face, relative to the runtime's detector box.

FER2013 faces fill their 48x48 frame; UTKFace chips show the whole head; a BlazeFace
box is tighter than both. So the runtime's crop must be the detector box expanded and
shifted by exactly the amounts that turn it into a training-style frame. We measure
them: run the detector on training images (upscaled, with a neutral border so the face
is not cut by the image edge), express each image's frame in units of its detector
box, and take the medians. The result is written into the model's card as its crop
rule, which export copies into every exported file's card. The runtime turns each face
upright (eye-line roll from the detector's keypoints) before applying the rule; the
training faces are registered upright, so their measured roll is recorded too: a rule
measured on upright faces then holds for the aligned crops.

Runs in the runtime environment (MediaPipe, no TensorFlow):
``python -m export.calibrate_crop --model trained_models/<run>``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from runtime.card import CardError, card_path_for, read_card, write_card
from runtime.cli import OneLineParser
from runtime.detection import Detector
from runtime.detector import detector_names, open_detector
from runtime.model_folder import CARD, CARD_SUFFIX, keras_path
from runtime.options import RuntimeConfig
from runtime.preprocess import CropRule
from train.reframe import locate_face

DEFAULT_DETECTOR = RuntimeConfig.detector  # its rule is the model's input crop


def frame_in_box_units(
    image: np.ndarray, order: str, detector: Detector
) -> tuple[float, float, float, float] | None:
    """(image width / box width, image height / box height, downward shift of the image centre
    from the box centre in box heights, eye-line roll in degrees), or None when no face is
    found."""
    found = locate_face(image, order, detector)
    if found is None:
        return None
    _, roll, (_, by, bw, bh) = found
    h, w = np.asarray(image).shape[:2]
    return w / bw, h / bh, (h / 2 - (by + bh / 2)) / bh, roll


def calibrate(
    card, images, order: str, detector_variant: str = "short", size: int = 400, seed: int = 0
) -> tuple[CropRule, dict]:
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), size=min(size, len(images)), replace=False)
    found = []
    with open_detector(detector_variant, min_score=0.5) as det:
        for i in pick:
            m = frame_in_box_units(images[i], order, det)
            if m is not None:
                found.append(m)
    if len(found) < max(20, 0.2 * len(pick)):
        raise ValueError(
            f"the detector found faces in only {len(found)} of {len(pick)} "
            f"training images; cannot calibrate the crop of {card.name}"
        )
    sx, sy, shift, roll = (np.array(v) for v in zip(*found))
    q = lambda v: [round(float(x), 3) for x in np.percentile(v, [25, 50, 75])]  # noqa: E731
    scale = float(np.median(np.maximum(sx, sy)))  # square crops, as the training images are
    rule = CropRule(
        scale_x=round(scale, 3),
        scale_y=round(scale, 3),
        shift_y=round(float(np.median(shift)), 3),
        square=True,
        framing=f"{card.input.crop.framing.split('; measured against')[0]}; "
        f"measured against BlazeFace "
        f"{detector_variant}-range boxes",
        calibrated=True,
    )
    stats = {
        "detector": f"blazeface_{detector_variant}",
        "images_tried": int(len(pick)),
        "faces_found": len(found),
        "seed": seed,
        "width_over_box_q25_q50_q75": q(sx),
        "height_over_box_q25_q50_q75": q(sy),
        "centre_shift_down_q25_q50_q75": q(shift),
        "eye_roll_degrees_q25_q50_q75": q(roll),
        "abs_eye_roll_degrees_q90": round(float(np.percentile(np.abs(roll), 90)), 2),
    }
    return rule, stats


def record_rule(folder: Path, detector: str, rule: CropRule, stats: dict) -> list[Path]:
    """Add another detector's rule to the training card and to every export's card beside it
    (the rule travels in ``crops``, which no model file embeds, so no re-export is needed)."""
    written = []
    for card_file in sorted(folder.glob(f"model*{CARD_SUFFIX}")):
        card = read_card(card_file)
        card.crops[detector] = rule
        if card_file.name == CARD:
            card.training.setdefault("crop_calibrations", {})[detector] = stats
        write_card(card, card_file)
        written.append(card_file)
    return written


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(
        prog="python -m export.calibrate_crop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", nargs="+", required=True, help="trained model folders")
    p.add_argument(
        "--detector",
        choices=detector_names(),
        default=DEFAULT_DETECTOR,
        help="whose boxes to measure against (the default detector's rule is the model's "
        "input crop, embedded in its exports; another's is added beside it)",
    )
    p.add_argument("--size", type=int, default=400, help="training images to measure")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    from train.data import card_split
    from train.datasets.base import DatasetError

    try:
        for m in a.model:
            path = Path(m)
            path = keras_path(path)
            card_file = card_path_for(path)
            card = read_card(card_file)
            ds, split = card_split(card)  # the training part of the split it was trained on
            train_idx = split.train
            images = (
                ds.images[train_idx]
                if isinstance(ds.images, np.ndarray)
                else [ds.images[i] for i in train_idx]
            )
            rule, stats = calibrate(card, images, ds.order, a.detector, a.size, a.seed)
            if a.detector == DEFAULT_DETECTOR:
                # The default detector's rule is the input's: exports embed it, so re-export.
                card.input = replace(card.input, crop=rule)
                card.training["crop_calibration"] = stats
                write_card(card, card_file)
            else:
                record_rule(path.parent, a.detector, rule, stats)
            print(
                f"{card.name}: crop = detector box x {rule.scale_x:.2f}, centre shifted down "
                f"{rule.shift_y:+.2f} box heights ({stats['faces_found']}/"
                f"{stats['images_tried']} faces found); written to {card_file}"
            )
    except (DatasetError, CardError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
