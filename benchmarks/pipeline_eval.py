"""Whole-pipeline accuracy on a labelled folder of photos, as a user runs the runtime.

The folder holds ``labels.csv`` (``file,label``, more columns allowed) and the images
(in the folder itself or in ``images/``). Every image goes through the real runtime
(``runtime.pipeline.run`` with the settings the runtime's own flags describe: its
defaults unless flags follow ``--``), optionally padded first (replicated border) for
photos cropped so tight that a detector cannot see the whole head. The labelled face is
the largest one found; an image with no face counts as wrong. Reported: detection rate,
accuracy, balanced accuracy, per-class recall and the confusion matrix (with a "no face"
column), as JSON and Markdown.

    python -m benchmarks.pipeline_eval --data ../shared/data/pipeline_dev/emotion --pad 80
    python -m benchmarks.pipeline_eval --data ../shared/data/pipeline_dev/gender -- --no-align

Use it to measure and choose pipeline settings; never train on its photos.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.cli import OneLineParser
from runtime.markdown import table

NO_FACE = "no face"


def task_outputs() -> dict[str, tuple[tuple[str, ...], str]]:
    """Each shipped task's labels and output kind (softmax, regression), from its card."""
    from runtime import model_folder

    out = {}
    for task in model_folder.tasks():
        card = model_folder.shipped_card(task)
        out[task] = (tuple(card["labels"]), card.get("output", {}).get("kind", "softmax"))
    return out


class EvalError(RuntimeError):
    """The labelled folder cannot be read as asked."""


@dataclass(frozen=True)
class Labelled:
    file: Path
    label: str


def read_labels(folder: Path) -> list[Labelled]:
    """``labels.csv`` rows whose image exists (in the folder or its ``images/``)."""
    index = folder / "labels.csv"
    if not index.is_file():
        raise EvalError(f"{index} not found; the folder needs a labels.csv with file,label")
    with open(index, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise EvalError(f"{index}: needs the columns file and label")
    out = []
    for r in rows:
        for base in (folder / "images", folder):
            if (base / r["file"]).is_file():
                out.append(Labelled(base / r["file"], r["label"].strip()))
                break
        else:
            raise EvalError(f"{index}: image {r['file']} not found in {folder} or its images/")
    return out


def task_of(labels: set[str], outputs: dict[str, tuple[tuple[str, ...], str]]) -> str:
    """The shipped task whose labels the folder's labels are (a regression's are numbers:
    name it with --task)."""
    for task, (names, kind) in outputs.items():
        if kind == "softmax" and labels <= set(names):
            return task
    raise EvalError(f"labels {sorted(labels)} belong to no task; pass --task")


def staged_images(items: list[Labelled], pad: int, into: Path) -> list[Path]:
    """The images as the runtime will read them: copies with a replicated border of ``pad``
    pixels, named so that the folder's sort order is the labels' order."""
    out = []
    for i, item in enumerate(items):
        image = cv2.imread(str(item.file), cv2.IMREAD_COLOR)
        if image is None:
            raise EvalError(f"{item.file}: not an image OpenCV can read")
        if pad:
            image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        path = into / f"{i:06d}.png"
        cv2.imwrite(str(path), image)
        out.append(path)
    return out


def largest_face_labels(rows: list[dict], task: str, key: str = "label") -> dict[str, str]:
    """Per image file: the task's ``key`` (its label; a regression's ``value``) of its
    largest face (images without one are absent)."""
    out = {}
    for r in rows:
        faces = [f for f in r["faces"] if task in f]
        if faces:
            big = max(faces, key=lambda f: f["box"][2] * f["box"][3])
            out[Path(r["file"]).name] = big[task][key]
    return out


def score_values(truth: list[str], predicted: list, within: float = 5.0) -> dict:
    """A regression task: detection rate, mean absolute error and the share within
    ``within`` units, over the images where a face was found (no face counts apart)."""
    t = np.array([float(x) for x in truth])
    found = np.array([p != NO_FACE for p in predicted])
    p = np.array([float(x) if x != NO_FACE else np.nan for x in predicted])
    err = np.abs(p[found] - t[found])
    return {
        "n": len(t),
        "detection_rate": round(float(found.mean()), 4) if len(t) else 0.0,
        "mae": round(float(err.mean()), 3) if len(err) else None,
        f"within_{within:g}": round(float((err <= within).mean()), 4) if len(err) else None,
    }


def score(truth: list[str], predicted: list[str], labels: tuple[str, ...]) -> dict:
    """Detection rate, accuracy (no face = wrong), balanced accuracy, recall, confusion."""
    cols = [*labels, NO_FACE]
    cm = np.zeros((len(labels), len(cols)), np.int64)
    for t, p in zip(truth, predicted):
        cm[labels.index(t), cols.index(p)] += 1
    support = cm.sum(axis=1)
    recall = {c: round(float(cm[i, i] / support[i]), 4) for i, c in enumerate(labels) if support[i]}
    n = int(cm.sum())
    return {
        "n": n,
        "detection_rate": round(float(1 - cm[:, -1].sum() / n), 4) if n else 0.0,
        "accuracy": round(float(np.trace(cm[:, :-1]) / n), 4) if n else 0.0,
        "balanced_accuracy": round(float(np.mean(list(recall.values()))), 4) if recall else 0.0,
        "recall": recall,
        "support": {c: int(s) for c, s in zip(labels, support)},
        "confusion": {"rows": list(labels), "columns": cols, "counts": cm.tolist()},
    }


def markdown(result: dict) -> str:
    r = result["scores"]
    lines = [
        f"# Pipeline evaluation: {result['task']} on {result['data']}",
        "",
        f"Settings: `{result['settings']}`, padding {result['pad']} px, {r['n']} images.",
        "",
    ]
    if result.get("kind", "softmax") != "softmax":
        keys = [k for k in r if k != "n"]
        return "\n".join([*lines, *table(keys, [[r[k] for k in keys]], "r" * len(keys))]) + "\n"
    lines += table(
        ["detection rate", "accuracy", "balanced accuracy"],
        [[f"{100 * r[k]:.1f} %" for k in ("detection_rate", "accuracy", "balanced_accuracy")]],
        "rrr",
    )
    recall = [[c, r["support"][c], f"{100 * v:.1f} %"] for c, v in r["recall"].items()]
    lines += ["", *table(["class", "support", "recall"], recall, "lrr")]
    cm = r["confusion"]
    lines += ["", "Confusion (rows: truth, columns: prediction)", ""]
    counts = [[row, *counts] for row, counts in zip(cm["rows"], cm["counts"])]
    lines += table(["", *cm["columns"]], counts, "l" + "r" * len(cm["columns"]))
    return "\n".join(lines) + "\n"


def evaluate(folder: Path, runtime_args: list[str], pad: int = 0, task: str | None = None, log=print) -> dict:
    """Run the runtime over the labelled folder and score its answers."""
    from runtime.__main__ import config_from_args, parse_args
    from runtime.app import run

    items = read_labels(folder)
    outputs = task_outputs()
    task = task or task_of({i.label for i in items}, outputs)
    if task not in outputs:
        raise EvalError(f"no {task} model is shipped; choose --task {' or '.join(outputs)}")
    labels, kind = outputs[task]
    unknown = sorted({i.label for i in items} - set(labels)) if kind == "softmax" else []
    if unknown:
        raise EvalError(f"labels {unknown} are not {task} labels ({', '.join(labels)})")
    with tempfile.TemporaryDirectory(prefix="pipeline-eval-") as tmp:
        staged = staged_images(items, pad, Path(tmp))
        table = Path(tmp) / "per_image.json"
        args = parse_args(
            ["--source", tmp, "--no-show", "--per-image", str(table), "--tasks", task, *runtime_args]
        )
        summary = run(config_from_args(args, show=False), log=log)
        key = "label" if kind == "softmax" else "value"
        found = largest_face_labels(json.loads(table.read_text()), task, key)
    predicted = [found.get(p.name, NO_FACE) for p in staged]
    truth = [i.label for i in items]
    return {
        "data": str(folder),
        "task": task,
        "pad": pad,
        "settings": " ".join(runtime_args) or "runtime defaults",
        "seconds": round(summary.seconds, 1),
        "kind": kind,
        "scores": score(truth, predicted, labels) if kind == "softmax" else score_values(truth, predicted),
        "per_image": [
            {"file": i.file.name, "label": i.label, "predicted": p} for i, p in zip(items, predicted)
        ],
    }


def write_result(output: Path | None, result: dict, md: str) -> None:
    """OUTPUT.json and OUTPUT.md (each written whole, then renamed) when asked; the Markdown
    printed either way."""
    from runtime.card import atomic_write_bytes

    if output:
        atomic_write_bytes(output.with_suffix(".json"), (json.dumps(result, indent=1) + "\n").encode())
        atomic_write_bytes(output.with_suffix(".md"), md.encode())
    print(md)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    runtime_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = OneLineParser(
        prog="python -m benchmarks.pipeline_eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", type=Path, required=True, help="folder with labels.csv (file,label) and the images"
    )
    p.add_argument(
        "--task", default=None, help="a shipped task (default: the one whose labels labels.csv uses)"
    )
    p.add_argument("--pad", type=int, default=0, help="replicated border added to each image (px)")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write OUTPUT.json and OUTPUT.md (default: print the Markdown only)",
    )
    a = p.parse_args(own)
    from runtime.cli import runtime_errors

    try:
        result = evaluate(a.data, runtime_args, a.pad, a.task, log=lambda m: print(m, file=sys.stderr))
    except (EvalError, *runtime_errors()) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_result(a.output, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
