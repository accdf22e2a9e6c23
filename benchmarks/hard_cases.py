"""Whole-pipeline accuracy on faces cut by the frame edge and enlarged, next to the full photos.

A face the detector finds at the frame edge must also get the right label. From a labelled
folder (pipeline_dev), the photos whose one face the reference detector finds are cut at
each frame edge (20, 30 and 40 % of the face cut off) and cropped so the face fills 60 to
100 % of the height, exactly as ``benchmarks.detection`` makes them; every case keeps its
photo's label and goes through the real runtime (``benchmarks.pipeline_eval``), defaults
unless runtime flags follow ``--``. Reported per family: detection rate, accuracy and
balanced accuracy (no face counts as wrong), as JSON and Markdown.

    python -m benchmarks.hard_cases --data ../shared/data/pipeline_dev/gender
    python -m benchmarks.hard_cases --data ../shared/data/pipeline_dev/emotion --pad 80

Use it to measure; never train on its photos.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import cv2

from benchmarks.detection import BenchError, generated_cases, reference_photos, row_of
from benchmarks.pipeline_eval import EvalError, evaluate, read_labels, write_result
from runtime.cli import OneLineParser
from runtime.markdown import table

LEVELS: dict[str, tuple] = {"edge_cut": (20, 30, 40), "enlarged": (60, 80, 100)}
FAMILIES = {"full": "full photos", "edge_cut/<=40": "edge cut 20–40 %", "enlarged": "enlarged 60–100 %"}


def write_folders(data: Path, into: Path, photos: int, pad: int, seed: int) -> dict[str, Path]:
    """One labelled folder per family (labels.csv and PNGs): the chosen photos themselves
    (padded by ``pad`` px of replicated border first, as pipeline_eval pads tight crops) and
    their generated cases, each with its photo's label."""
    labels = {item.file: item.label for item in read_labels(data)}
    chosen = reference_photos(list(labels), photos, seed, pad=pad)
    if not chosen:
        raise BenchError(f"the reference detector finds one whole face in none of {data}'s photos")
    rows: dict[str, list[tuple[str, str]]] = {family: [] for family in FAMILIES}
    folders = {family: into / family.replace("/<=", "_le") for family in FAMILIES}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for n, (path, image, box) in enumerate(chosen):
        label = labels[path]
        made = generated_cases(image, box, "", LEVELS)
        cases = [("full", image)] + [(row_of(c.name), c.image) for c in made]
        for k, (family, picture) in enumerate(cases):
            name = f"{n:04d}_{k:02d}.png"
            cv2.imwrite(str(folders[family] / name), picture)
            rows[family].append((name, label))
    for family, folder in folders.items():
        with open(folder / "labels.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file", "label"])
            w.writerows(rows[family])
    return folders


def markdown(result: dict) -> str:
    lines = [
        f"# Cut and enlarged faces: {result['task']} on {result['data']}",
        "",
        f"Settings: `{result['settings']}`, {result['photos']} photos (padding {result['pad']} px).",
        "",
    ]
    body = [
        [
            FAMILIES[family],
            r["n"],
            *(f"{100 * r[k]:.1f} %" for k in ("detection_rate", "accuracy", "balanced_accuracy")),
        ]
        for family, r in result["families"].items()
    ]
    header = ["case", "images", "detection", "accuracy", "balanced"]
    return "\n".join(lines + table(header, body, "lrrrr")) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    runtime_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = OneLineParser(
        prog="python -m benchmarks.hard_cases",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="labelled folder (labels.csv and the images)")
    p.add_argument("--photos", type=int, default=60, help="photos to make cases from (default: %(default)s)")
    p.add_argument("--pad", type=int, default=0, help="replicated border added to each photo first (px)")
    p.add_argument("--seed", type=int, default=0, help="order in which the photos are tried")
    p.add_argument("--output", type=Path, default=None, help="write OUTPUT.json and OUTPUT.md")
    a = p.parse_args(own)
    if a.photos < 1:
        p.error("--photos must be 1 or more")
    from runtime.cli import runtime_errors

    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        with tempfile.TemporaryDirectory(prefix="hard-cases-") as tmp:
            folders = write_folders(a.data, Path(tmp), a.photos, a.pad, a.seed)
            scored = {family: evaluate(folder, runtime_args, log=log) for family, folder in folders.items()}
    except (BenchError, EvalError, *runtime_errors()) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    first = next(iter(scored.values()))
    result = {
        "data": str(a.data),
        "task": first["task"],
        "pad": a.pad,
        "photos": scored["full"]["scores"]["n"],
        "levels": LEVELS,
        "settings": first["settings"],
        "families": {family: r["scores"] for family, r in scored.items()},
    }
    write_result(a.output, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
