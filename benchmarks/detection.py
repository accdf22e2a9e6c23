"""Face detection: recall, false faces and time per frame of every registered face detector.

Each detector of ``runtime.detector``'s registry runs as the runtime uses it, in two
*settings*: ``NAME/still`` (``tile=True``, as for photos: overlapping tiles too, for small
faces in large images) and ``NAME/video`` (``tile=False``, what every webcam frame gets).
They see:

(a) the hand-labelled photos of ``benchmarks/fixtures/face_boxes.json`` (paths relative to
    the shared folder): every face a person would count, some flagged cut, occluded or profile;
(b) hard cases generated from a fixed, seeded subset of the portraits in
    ``../shared/data/pipeline_dev/gender``: photos on which BlazeFace short-range (video
    setting) finds exactly one face, wholly inside the photo and at least 48 px tall. That box
    is the truth, moved with the image: the face cut by the image edge, enlarged to fill the
    frame, shrunk into a 640x480 frame, rotated, darkened, motion-blurred.

A detection matches a truth face by the rule in ``RULE``; recall is the share of truth faces
matched, false faces are the detections matched to none (per image). Times are per frame,
one ``detect`` call. The results go to ``--output`` as detection.json and detection.md.

    python -m benchmarks.detection                           # every detector, 60 photos
    python -m benchmarks.detection --detectors short --photos 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from runtime.cli import OneLineParser
from runtime.geometry import Box, iou
from runtime.markdown import table

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "benchmarks" / "fixtures" / "face_boxes.json"
OUTPUT = ROOT / "benchmarks" / "results" / "detection"
QUICK_OUTPUT = ROOT / ".cache" / "detection-quick"  # a smoke run never replaces the committed figures
PHOTOS = Path("data") / "pipeline_dev" / "gender"  # inside the shared folder

MATCH_IOU = 0.4
CENTRE_AREA = (0.25, 4.0)
RULE = (
    f"a detection (clipped to the image, as cut faces are labelled) matches a truth face when their "
    f"IoU is at least {MATCH_IOU}, or when the detection's centre lies inside the truth box and its "
    f"area is {CENTRE_AREA[0]}x to {CENTRE_AREA[1]:g}x the truth's (the face-centre rule); one detection "
    "per face, paired greedily by IoU, best first. Recall = matched truth faces / truth faces; false "
    "faces = detections matched to no truth face."
)
REFERENCE = "short"  # finds the one face of a generated case's photo (video setting, min score 0.5)
REFERENCE_MIN_SCORE = 0.5
MIN_REFERENCE_FACE = 48  # px tall: every 'small' level is then a downscale
CANVAS = (640, 480)  # width, height of the 'small' cases
CANVAS_GREY = 127
SELECTION = (
    f"photos on which {REFERENCE} (tile=False, min score {REFERENCE_MIN_SCORE}) finds exactly one face, "
    f"wholly inside the photo and at least {MIN_REFERENCE_FACE} px tall; that box is the truth face"
)

LEVELS: dict[str, tuple] = {
    "edge_cut": (20, 30, 40, 50),  # % of the face's width (left/right) or height (top/bottom) cut off
    "enlarged": (60, 80, 100),  # % of the crop's height the face fills
    "small": (20, 28, 40),  # face height in px in a 640x480 frame
    "rotated": (-30, -15, 15, 30),  # degrees, counter-clockwise positive (OpenCV), about the face
    "dark": (2.2, 3.0),  # gamma: out = 255 * (in / 255) ** gamma
    "blur": (9, 17),  # horizontal motion-blur line, px
}
QUICK_LEVELS: dict[str, tuple] = {
    "edge_cut": (40, 50),
    "enlarged": (60, 100),
    "small": (20, 40),
    "rotated": (-30, 30),
    "dark": (2.2, 3.0),
    "blur": (9, 17),
}
QUICK_PHOTOS, QUICK_LABELLED = 6, 3
EDGES = ("left", "right", "top", "bottom")
FLAGS = ("cut", "occluded", "profile")
ROWS = {  # generated-case row -> its title in the tables
    "edge_cut/<=40": "edge cut ≤ 40 %",
    "edge_cut/50": "edge cut 50 %",
    "enlarged": "enlarged (face 60–100 % of the crop height)",
    "small": "small (face 20–40 px in 640×480)",
    "rotated": "rotated (±15°, ±30°)",
    "dark": "dark (gamma 2.2, 3.0)",
    "blur": "motion blur (9, 17 px)",
}


class BenchError(RuntimeError):
    """The data this benchmark needs are missing or unreadable."""


@dataclass(frozen=True)
class Face:
    box: Box
    flags: frozenset[str] = frozenset()
    note: str = ""


@dataclass(frozen=True, eq=False)
class Case:
    """One image a detector is shown, with the faces it should find."""

    name: str  # "labelled", or family/level such as edge_cut/left/40
    source: str  # the image file it comes from
    image: np.ndarray
    faces: tuple[Face, ...]


@dataclass
class Record:
    """What one setting made of one case."""

    case: str
    source: str
    matched: list[bool]  # per truth face
    flags: list[frozenset[str]]
    notes: list[str]
    false: int
    ms: float
    detections: list[list[int]] = field(default_factory=list)


# -- matching ---------------------------------------------------------------------------------


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """The part of ``box`` inside a width x height image (None when nothing is)."""
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(width, box.x + box.w), min(height, box.y + box.h)
    return Box(x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def centre_rule(det: Box, truth: Box) -> bool:
    """The detection's centre lies inside the truth box and its area is 0.25x-4x the truth's."""
    cx, cy = det.x + det.w / 2, det.y + det.h / 2
    inside = truth.x <= cx <= truth.x + truth.w and truth.y <= cy <= truth.y + truth.h
    ratio = det.w * det.h / max(1, truth.w * truth.h)
    return inside and CENTRE_AREA[0] <= ratio <= CENTRE_AREA[1]


def matches(det: Box, truth: Box) -> bool:
    return iou(det, truth) >= MATCH_IOU or centre_rule(det, truth)


def match(detections: list[Box], truths: list[Box]) -> tuple[list[bool], int]:
    """One-to-one greedy matching by IoU, best pair first. Returns, per truth face, whether a
    detection matched it, and the number of detections that matched none."""
    pairs = sorted(
        (
            (iou(d, t), di, ti)
            for di, d in enumerate(detections)
            for ti, t in enumerate(truths)
            if matches(d, t)
        ),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    used_d: set[int] = set()
    found = [False] * len(truths)
    for _, di, ti in pairs:
        if di not in used_d and not found[ti]:
            used_d.add(di)
            found[ti] = True
    return found, len(detections) - len(used_d)


# -- generated cases ---------------------------------------------------------------------------


def _crop(image: np.ndarray, box: Box, x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, Box | None]:
    """The image inside [x0, x1) x [y0, y1) and the face box moved into it, clipped."""
    crop = image[y0:y1, x0:x1]
    return crop, clip_box(Box(box.x - x0, box.y - y0, box.w, box.h), x1 - x0, y1 - y0)


def edge_cut(image: np.ndarray, box: Box, edge: str, percent: int) -> tuple[np.ndarray, Box | None]:
    """The image cropped at one side so that ``percent`` % of the face's width (left, right) or
    height (top, bottom) is cut off; the other sides keep the rest of the image."""
    h, w = image.shape[:2]
    cut_x, cut_y = round(box.w * percent / 100), round(box.h * percent / 100)
    x0, y0, x1, y1 = {
        "left": (box.x + cut_x, 0, w, h),
        "right": (0, 0, box.x + box.w - cut_x, h),
        "top": (0, box.y + cut_y, w, h),
        "bottom": (0, 0, w, box.y + box.h - cut_y),
    }[edge]
    return _crop(image, box, x0, y0, x1, y1)


def enlarged(image: np.ndarray, box: Box, percent: int) -> tuple[np.ndarray, Box | None] | None:
    """A square crop in which the face is ``percent`` % of the height: centred on the face,
    moved inside the image where it sticks out (so the share stays); None when the image is
    smaller than the square."""
    h, w = image.shape[:2]
    side = round(box.h * 100 / percent)
    if side > w or side > h:
        return None
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0 = min(max(0, round(cx - side / 2)), w - side)
    y0 = min(max(0, round(cy - side / 2)), h - side)
    return _crop(image, box, x0, y0, x0 + side, y0 + side)


def small(image: np.ndarray, box: Box, px: int) -> tuple[np.ndarray, Box | None]:
    """The photo scaled so the face is ``px`` tall, in the middle of a grey 640x480 frame
    (moved so the face stays inside when the scaled photo is larger than the frame)."""
    cw, ch = CANVAS
    s = px / box.h
    h, w = image.shape[:2]
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    scaled = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    face = Box(round(box.x * s), round(box.y * s), max(1, round(box.w * s)), px)
    ox, oy = (cw - sw) // 2, (ch - sh) // 2
    ox -= min(0, ox + face.x) + max(0, ox + face.x + face.w - cw)
    oy -= min(0, oy + face.y) + max(0, oy + face.y + face.h - ch)
    canvas = np.full((ch, cw, 3), CANVAS_GREY, np.uint8)
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(cw, ox + sw), min(ch, oy + sh)
    canvas[y0:y1, x0:x1] = scaled[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    return canvas, clip_box(Box(face.x + ox, face.y + oy, face.w, face.h), cw, ch)


def rotated(image: np.ndarray, box: Box, degrees: float) -> tuple[np.ndarray, Box | None]:
    """The image turned about the face centre (same size, border replicated); the truth is a
    box of the face's size centred where the centre went (it stays: it is the pivot)."""
    h, w = image.shape[:2]
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    m = cv2.getRotationMatrix2D((cx, cy), degrees, 1.0)
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    nx, ny = m @ np.array([cx, cy, 1.0])
    return out, clip_box(Box(round(nx - box.w / 2), round(ny - box.h / 2), box.w, box.h), w, h)


def dark(image: np.ndarray, box: Box, gamma: float) -> tuple[np.ndarray, Box | None]:
    lut = np.round(255 * (np.arange(256) / 255) ** gamma).astype(np.uint8)
    return cv2.LUT(image, lut), clip_box(box, image.shape[1], image.shape[0])


def blurred(image: np.ndarray, box: Box, length: int) -> tuple[np.ndarray, Box | None]:
    """Horizontal motion blur: a line kernel ``length`` px wide."""
    return cv2.blur(image, (length, 1)), clip_box(box, image.shape[1], image.shape[0])


def _level(value: float) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def generated_cases(
    image: np.ndarray, box: Box, source: str, levels: dict[str, tuple] = LEVELS
) -> list[Case]:
    """Every hard case of one photo whose face box is ``box`` (cases that cannot be made,
    such as an enlargement the image is too small for, are left out)."""
    made: list[tuple[str, tuple[np.ndarray, Box | None] | None]] = []
    for edge in EDGES:
        made += [(f"edge_cut/{edge}/{p}", edge_cut(image, box, edge, p)) for p in levels.get("edge_cut", ())]
    made += [(f"enlarged/{p}", enlarged(image, box, p)) for p in levels.get("enlarged", ())]
    made += [(f"small/{p}", small(image, box, p)) for p in levels.get("small", ())]
    made += [(f"rotated/{d}", rotated(image, box, d)) for d in levels.get("rotated", ())]
    made += [(f"dark/{_level(g)}", dark(image, box, g)) for g in levels.get("dark", ())]
    made += [(f"blur/{k}", blurred(image, box, k)) for k in levels.get("blur", ())]
    cases = []
    for name, out in made:
        if out is not None and out[1] is not None and out[0].size:
            cases.append(Case(name, source, np.ascontiguousarray(out[0]), (Face(out[1]),)))
    return cases


def row_of(case: str) -> str:
    """The table row of a generated case: edge cuts up to 40 % together, 50 % apart, else the family."""
    family, *rest = case.split("/")
    if family == "edge_cut":
        return "edge_cut/50" if int(rest[-1]) >= 50 else "edge_cut/<=40"
    return family


# -- data ----------------------------------------------------------------------------------------


def labelled_cases(fixture: Path, shared: Path, limit: int | None = None) -> tuple[list[Case], list[str]]:
    """The hand-labelled photos (and the fixture's images that are not in ``shared``)."""
    try:
        data = json.loads(Path(fixture).read_text())
        images = data["images"]
    except (OSError, ValueError, KeyError) as e:
        raise BenchError(f"cannot read the face boxes {fixture}: {e}") from None
    cases, missing = [], []
    for rel, entry in list(images.items())[:limit]:
        path = shared / rel
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            missing.append(rel)
            continue
        if image.shape[:2] != (entry["height"], entry["width"]):
            raise BenchError(
                f"{path} is {image.shape[1]}x{image.shape[0]}, the face boxes were drawn on "
                f"{entry['width']}x{entry['height']}"
            )
        faces = tuple(
            Face(Box(*f["box"]), frozenset(k for k in FLAGS if f.get(k)), f.get("note", ""))
            for f in entry["faces"]
        )
        cases.append(Case("labelled", rel, image, faces))
    return cases, missing


def photo_files(folder: Path) -> list[Path]:
    """The images of a labelled folder (labels.csv; in the folder or its images/)."""
    from benchmarks.pipeline_eval import EvalError, read_labels

    try:
        return [item.file for item in read_labels(folder)]
    except EvalError as e:
        raise BenchError(str(e)) from None


def reference_photos(
    files: list[Path], n: int, seed: int, progress: Callable[[], None] = lambda: None, pad: int = 0
) -> list[tuple[Path, np.ndarray, Box]]:
    """Up to ``n`` photos, in a seeded order, whose one face the reference detector finds
    (each given ``pad`` px of replicated border first, for photos cropped tight)."""
    from runtime.detector import open_detector

    order = sorted(files)
    random.Random(seed).shuffle(order)
    chosen = []
    with open_detector(REFERENCE, REFERENCE_MIN_SCORE) as det:
        for path in order:
            if len(chosen) >= n:
                break
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            if pad:
                image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            found = det.detect(image, tile=False)
            if len(found) != 1:
                continue
            b = found[0].box
            h, w = image.shape[:2]
            if b.x >= 0 and b.y >= 0 and b.x + b.w <= w and b.y + b.h <= h and b.h >= MIN_REFERENCE_FACE:
                chosen.append((path, image, b))
                progress()
    return chosen


# -- running and scoring -------------------------------------------------------------------------


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int | None, desc: str, unit: str):
    """A tqdm bar on stderr where tqdm is installed, else nothing."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)


def run_case(detector, tile: bool, case: Case) -> Record:
    h, w = case.image.shape[:2]
    t0 = time.perf_counter()
    found = detector.detect(case.image, tile=tile)
    ms = (time.perf_counter() - t0) * 1000
    boxes = [b for b in (clip_box(d.box, w, h) for d in found) if b is not None]
    matched, false = match(boxes, [f.box for f in case.faces])
    return Record(
        case.name,
        case.source,
        matched,
        [f.flags for f in case.faces],
        [f.note for f in case.faces],
        false,
        ms,
        [b.as_list() for b in boxes],
    )


def stats(records: list[Record], flag: str | None = None) -> dict:
    """Recall over the faces (those flagged ``flag`` only, if given); over every face also the
    false faces per image and the time per frame."""
    hits = [m for r in records for m, f in zip(r.matched, r.flags) if flag is None or flag in f]
    out: dict = {
        "images": len(records),
        "faces": len(hits),
        "found": sum(hits),
        "recall": round(sum(hits) / len(hits), 4) if hits else None,
    }
    if flag is None and records:
        ms = [r.ms for r in records]
        false = sum(r.false for r in records)
        out.update(
            false=false,
            false_per_image=round(false / len(records), 3),
            ms_median=round(statistics.median(ms), 2),
            ms_mean=round(statistics.fmean(ms), 2),
        )
    return out


def labelled_summary(records: list[Record]) -> dict:
    return {"all": stats(records), **{flag: stats(records, flag) for flag in FLAGS}}


def generated_summary(records: list[Record]) -> dict:
    rows = {row: stats([r for r in records if row_of(r.case) == row]) for row in ROWS}
    rows["all"] = stats(records)
    return {k: v for k, v in rows.items() if v["images"]}


def per_case(records: list[Record]) -> dict:
    names = list(dict.fromkeys(r.case for r in records))
    return {name: stats([r for r in records if r.case == name]) for name in names}


def per_image(records: list[Record]) -> list[dict]:
    return [
        {
            "image": r.source,
            "faces": len(r.matched),
            "found": sum(r.matched),
            "missed": [{"index": i, "note": r.notes[i]} for i, m in enumerate(r.matched) if not m],
            "false": r.false,
            "ms": round(r.ms, 2),
            "detections": r.detections,
        }
        for r in records
    ]


def best_setting(labelled: dict) -> str | None:
    """Highest recall on every hand-labelled face, then fewest false faces, then fastest."""
    scored = [(s, v["all"]) for s, v in labelled.items() if v["all"].get("recall") is not None]
    if not scored:
        return None
    return min(scored, key=lambda p: (-p[1]["recall"], p[1]["false_per_image"], p[1]["ms_median"]))[0]


def settings_for(names: Iterable[str]) -> list[tuple[str, str, bool]]:
    """(setting, detector name, tile): each detector as on stills and as on video."""
    return [(f"{n}/{kind}", n, tile) for n in names for kind, tile in (("still", True), ("video", False))]


def run(
    detectors: list[str],
    labelled: list[Case],
    photos: list[tuple[Path, np.ndarray, Box]],
    levels: dict[str, tuple],
    min_score: float = 0.5,
) -> dict:
    """Every setting on every case; returns the scores (JSON-ready)."""
    from runtime.detector import open_detector

    settings = settings_for(detectors)
    opened = {}
    try:
        for name in detectors:
            opened[name] = open_detector(name, min_score)
        warm = np.full((CANVAS[1], CANVAS[0], 3), CANVAS_GREY, np.uint8)
        for _, name, tile in settings:  # the first call of a detector sets up its engine
            opened[name].detect(warm, tile=tile)
        lab: dict[str, list[Record]] = {s: [] for s, _, _ in settings}
        gen: dict[str, list[Record]] = {s: [] for s, _, _ in settings}
        bar = progress_bar(len(labelled), "labelled photos", "image")
        for case in labelled:
            for setting, name, tile in settings:
                lab[setting].append(run_case(opened[name], tile, case))
            bar.update()
        bar.close()
        bar = progress_bar(len(photos), "generated cases", "photo")
        n_cases = 0
        for path, image, box in photos:
            for case in generated_cases(image, box, path.name, levels):
                n_cases += 1
                for setting, name, tile in settings:
                    gen[setting].append(run_case(opened[name], tile, case))
            bar.update()
        bar.close()
    finally:
        for d in opened.values():
            d.close()
    out: dict = {"settings": [s for s, _, _ in settings]}
    if labelled:
        out["labelled"] = {
            "images": len(labelled),
            "faces": sum(len(c.faces) for c in labelled),
            "flagged": {f: sum(f in face.flags for c in labelled for face in c.faces) for f in FLAGS},
            "results": {s: labelled_summary(r) for s, r in lab.items()},
            "per_image": {s: per_image(r) for s, r in lab.items()},
        }
    if photos:
        out["generated"] = {
            "photos": [{"file": p.name, "box": b.as_list()} for p, _, b in photos],
            "cases": n_cases,
            "levels": {k: list(v) for k, v in levels.items()},
            "results": {s: generated_summary(r) for s, r in gen.items()},
            "per_case": {s: per_case(r) for s, r in gen.items()},
        }
    return out


# -- report --------------------------------------------------------------------------------------


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _num(v, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def _row(title: str, s: dict, with_false: bool = True) -> list:
    return [
        title,
        s["images"] if with_false else "",
        s["faces"],
        _pct(s["recall"]),
        _num(s.get("false_per_image"), ".2f") if with_false else "–",
        _num(s.get("ms_median"), ".1f") if with_false else "–",
        _num(s.get("ms_mean"), ".1f") if with_false else "–",
    ]


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# Face detection benchmark",
        "",
        f"{result['date']}, `{result['command']}`, on {m['cpu']} ({m['arch']}, {m['cores']} cores, "
        f"{m['os']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
        + ").",
        "",
        f"Settings: every registered detector at min score {result['min_score']}, as the runtime uses it "
        "on stills (`/still`: tile=True, overlapping tiles for small faces in large images) and on video "
        "(`/video`: tile=False, every webcam frame). Time: one detect call per frame, ms.",
        "",
        f"Match rule: {result['rule']}",
        "",
    ]
    lab, gen = result.get("labelled"), result.get("generated")
    for key, why in result.get("skipped", {}).items():
        lines += [f"Skipped {key}: {why}", ""]
    if lab:
        flagged = ", ".join(f"{n} {f}" for f, n in lab["flagged"].items())
        lines.append(f"Hand-labelled: {lab['images']} photos, {lab['faces']} faces ({flagged}).")
    if gen:
        lines.append(
            f"Generated: {gen['cases']} cases from {len(gen['photos'])} photos of {result['generated_from']} "
            f"({result['selection']}; seed {result['seed']})."
        )
    lines += ["", "## Summary", ""]
    rows = []
    for s in result["settings"]:
        la = lab["results"][s]["all"] if lab else {}
        ga = gen["results"][s]["all"] if gen else {}
        rows.append(
            [
                s,
                _pct(la.get("recall")),
                _num(la.get("false_per_image"), ".2f"),
                _num(la.get("ms_median"), ".1f"),
                _pct(ga.get("recall")),
                _num(ga.get("false_per_image"), ".2f"),
                _num(ga.get("ms_median"), ".1f"),
                _num(ga.get("ms_mean"), ".1f"),
            ]
        )
    lines += table(
        [
            "setting",
            "labelled recall",
            "labelled false / image",
            "labelled ms (median)",
            "generated recall",
            "generated false / image",
            "generated ms (median)",
            "generated ms (mean)",
        ],
        rows,
        "lrrrrrrr",
    )
    header = ["set", "images", "faces", "recall", "false faces / image", "ms median", "ms mean"]
    for s in result["settings"]:
        rows = []
        if lab:
            r = lab["results"][s]
            rows.append(_row("hand-labelled: all faces", r["all"]))
            rows += [_row(f"hand-labelled: {f} faces", r[f], with_false=False) for f in FLAGS]
        if gen:
            g = gen["results"][s]
            rows += [_row(ROWS.get(k, "all generated cases"), v) for k, v in g.items()]
        lines += ["", f"## {s}", "", *table(header, rows, "lrrrrrr")]
    if gen:
        names = list(gen["per_case"][result["settings"][0]])
        rows = [[n, *(_pct(gen["per_case"][s][n]["recall"]) for s in result["settings"])] for n in names]
        align = "l" + "r" * len(result["settings"])
        lines += ["", "## Recall per generated case", "", *table(["case", *result["settings"]], rows, align)]
    best = result.get("best")
    if lab and best:
        lines += ["", f"## Hand-labelled faces missed by {best} (the best setting)", ""]
        missed = [r for r in lab["per_image"][best] if r["missed"]]
        for r in missed:
            faces = "; ".join(f"#{m['index']} {m['note']}".strip() for m in r["missed"])
            lines.append(f"- {r['image']} ({len(r['missed'])} of {r['faces']}): {faces}")
        found_all = len(lab["per_image"][best]) - len(missed)
        lines.append(f"- every face found in the other {found_all} photos" if missed else "- none missed")
    return "\n".join(lines) + "\n"


# -- command -------------------------------------------------------------------------------------


def shared_default() -> Path:
    from benchmarks.__main__ import shared_dir

    return shared_dir()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from runtime.detector import detector_names

    p = OneLineParser(
        prog="python -m benchmarks.detection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--shared",
        type=Path,
        default=None,
        help="the shared folder (default: ../shared beside the repository, or $EDGE_FACE_SHARED)",
    )
    p.add_argument(
        "--fixture",
        type=Path,
        default=FIXTURE,
        help="hand-labelled face boxes, image paths relative to --shared (default: %(default)s)",
    )
    p.add_argument(
        "--photos-from",
        type=Path,
        default=None,
        help=f"labelled folder (labels.csv, images) to make the hard cases from (default: SHARED/{PHOTOS})",
    )
    p.add_argument(
        "--photos",
        type=int,
        default=None,
        help=f"photos to make hard cases from (default: 60; {QUICK_PHOTOS} with --quick; 0: none)",
    )
    p.add_argument("--seed", type=int, default=0, help="order in which the photos are tried")
    names = detector_names()
    p.add_argument(
        "--detectors",
        default=",".join(names),
        help=f"comma-separated registered detectors (default: all: {','.join(names)})",
    )
    p.add_argument("--min-score", type=float, default=0.5, help="detector confidence threshold")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"folder for detection.json and detection.md (default: {OUTPUT.relative_to(ROOT)}; "
        f"{QUICK_OUTPUT.relative_to(ROOT)} for --quick)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_PHOTOS} photos, 2 levels per case, {QUICK_LABELLED} hand-labelled photos",
    )
    a = p.parse_args(argv)
    a.detectors = [d.strip() for d in a.detectors.split(",") if d.strip()]
    unknown = [d for d in a.detectors if d not in names]
    if unknown or not a.detectors:
        p.error(f"unknown detector {', '.join(unknown) or '(none given)'}; choose from {', '.join(names)}")
    if a.photos is not None and a.photos < 0:
        p.error("--photos must be 0 or more")
    if not 0 < a.min_score < 1:
        p.error("--min-score must be between 0 and 1")
    return a


def machine() -> dict:
    from benchmarks.__main__ import machine as bench_machine

    m = bench_machine()
    m["processor"] = platform.processor()
    return m


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    from runtime.card import atomic_write_bytes
    from runtime.detection import DetectorError

    shared = a.shared or shared_default()
    photos_from = a.photos_from or shared / PHOTOS
    n_photos = a.photos if a.photos is not None else (QUICK_PHOTOS if a.quick else 60)
    levels = QUICK_LEVELS if a.quick else LEVELS
    started = time.perf_counter()
    skipped: dict[str, str] = {}
    try:
        if not shared.is_dir() and a.photos_from is None:
            raise BenchError(
                f"the shared folder {shared} is not there; it holds the labelled photos and the "
                "portraits this benchmark needs (pass --shared DIR)"
            )
        labelled, missing = labelled_cases(a.fixture, shared, QUICK_LABELLED if a.quick else None)
        if missing:
            skipped["hand-labelled photos"] = f"not found in {shared}: {', '.join(missing)}"
        photos: list = []
        if n_photos:
            if photos_from.is_dir():
                bar = progress_bar(n_photos, "choosing photos", "photo")
                photos = reference_photos(photo_files(photos_from), n_photos, a.seed, bar.update)
                bar.close()
                if len(photos) < n_photos:
                    skipped["photos"] = (
                        f"only {len(photos)} of {photos_from}'s photos qualify, not {n_photos}"
                    )
            else:
                skipped["generated cases"] = f"{photos_from} not found (pass --photos-from DIR)"
        if not labelled and not photos:
            raise BenchError("nothing to measure: " + "; ".join(skipped.values() or ["--photos 0"]))
        scores = run(a.detectors, labelled, photos, levels, a.min_score)
    except (BenchError, DetectorError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = {
        "schema": 1,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(
            [
                "python -m benchmarks.detection",
                *(shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv)),
            ]
        ),
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "rule": RULE,
        "min_score": a.min_score,
        "fixture": str(a.fixture),
        "shared": str(shared),
        "generated_from": str(photos_from),
        "selection": SELECTION,
        "seed": a.seed,
        **({"skipped": skipped} if skipped else {}),
        **scores,
    }
    result["best"] = best_setting(scores["labelled"]["results"]) if "labelled" in scores else None
    out = a.output or (QUICK_OUTPUT if a.quick else OUTPUT)
    md = markdown(result)
    atomic_write_bytes(out / "detection.json", (json.dumps(result, indent=1) + "\n").encode())
    atomic_write_bytes(out / "detection.md", md.encode())
    print(md)
    print(
        f"written: {out / 'detection.json'}, {out / 'detection.md'} ({result['seconds']} s)", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
