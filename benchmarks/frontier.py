"""Accuracy against cost for every trained model: the table that picks the tiers.

Cost comes from each model's card (multiply-adds, weights) and its exported int8 ONNX file
(size, and a fresh single-face timing on this CPU, one thread); accuracy from the card's
held-out splits (the Keras model), from ``--data`` splits scored here with the int8 ONNX
file (every model the same way, whatever its card holds: issue L's new sources, age), and,
with ``--pipeline-dev``, from the whole runtime on the labelled photos
(``benchmarks.pipeline_eval``, the model swapped into the default pipeline, stills on
BlazeFace alone: ``STILL_DETECTOR``).

    python -m benchmarks.frontier --pipeline-dev ../shared/data/pipeline_dev \
        --data build/reframed/emotion/expw_val.npz build/reframed/gender/gender_celeba_val.npz \
        build/reframed/gender/gender_aaf_val.npz ../shared/data/gender_val.npz \
        ../shared/data/ckplus48.npz
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

from runtime.card import read_card
from runtime.cli import OneLineParser
from runtime.model_folder import card_path, export_path, models_dir, shipped_index

PAD = {"emotion": 80, "gender": 0}  # pipeline_dev's emotion photos need a border (its README)
# pipeline_dev's stills go through BlazeFace alone here: every model has its crop rule, and
# the figures compare with the tables before issue N (the default, which adds CenterFace,
# moves them by 0.2 points or less: docs/results.md, issue N).
STILL_DETECTOR = "short"
# The --data splits each task's table shows, by split name (train.evaluate.split_name).
SPLIT_COLUMNS = {
    "emotion": {"expw_val": "ExpW val", "ckplus48": "CK+48 (posed, as published)"},
    "gender": {"gender_celeba_val": "CelebA val", "gender_aaf_val": "All-Age-Faces val"},
    "age": {"gender_val": "UTKFace val", "gender_aaf_val": "All-Age-Faces val"},
}


def int8_ms_per_face(path: Path) -> float:
    """One face, one thread, median of 300 calls (``runtime.backends.single_face_ms``)."""
    from runtime.backends import open_classifier, single_face_ms

    clf = open_classifier(path, threads=1)
    return single_face_ms(clf, np.zeros(clf.input_shape, np.float32), repeats=300)


def split_scores(int8: Path, task: str, specs: list[str]) -> dict[str, dict]:
    """The int8 file's metrics on each ``--data`` split its table shows."""
    from train.evaluate import open_forward, score, split_name

    wanted = [s for s in specs if split_name(s) in SPLIT_COLUMNS.get(task, {})]
    if not wanted:
        return {}
    forward, card = open_forward(int8, threads=1)
    return {split_name(s): score(forward, card, s).metrics for s in wanted}


def trained_on(card, splits: dict) -> list[str]:
    """The scored splits whose file the model trained on (part of it: CK+48 is carved by
    person), so their column is not a held-out figure for this model."""
    from train.evaluate import split_name

    seen = {split_name(d) for d in card.training.get("data", [])}
    return sorted(name for name in splits if name in seen)


def row(folder: Path, tiers: dict[str, str], pipeline_dev: Path | None, specs: list[str] = ()) -> dict:
    card = read_card(card_path(folder))
    out = {
        "model": card.name,
        "task": card.task,
        "tier": tiers.get(folder.name, "tried"),
        "macs_m": round(card.architecture["macs"] / 1e6, 1),
        "weights_k": round(card.architecture["params"] / 1e3),
        "metrics": {k: v for k, v in card.metrics.items() if k != "validation"},
    }
    int8 = export_path(folder, "onnx", "int8")
    if int8.is_file():
        out["int8_kib"] = round(int8.stat().st_size / 1024)
        out["int8_ms"] = round(int8_ms_per_face(int8), 3)
        out["splits"] = split_scores(int8, card.task, list(specs))
        out["trained_on"] = trained_on(card, out["splits"])
        if pipeline_dev is not None and card.task in PAD:
            from benchmarks.pipeline_eval import evaluate

            flag = f"--{card.task}-model"
            args = [flag, str(folder), "--still-detector", STILL_DETECTOR]
            result = evaluate(pipeline_dev / card.task, args, PAD[card.task], card.task, log=lambda _: None)
            out["pipeline_dev"] = result["scores"]["accuracy"]
    return out


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo"), board: Path = Path("/proc/device-tree/model")) -> str:
    """A board as its device tree names it ("Raspberry Pi 5 Model B Rev 1.0": a Pi's
    /proc/cpuinfo names no CPU model), else the CPU model as lscpu names it (Linux), else what
    platform knows."""

    def text(path: Path) -> str:
        try:
            return path.read_text()
        except OSError:
            return ""

    if name := text(board).strip("\x00\n "):
        return name
    for line in text(cpuinfo).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


TRAINED_MARK = "†"
TRAINED_NOTE = f"{TRAINED_MARK} The model trained on part of this file: not a held-out figure for it."


def _split_cells(r: dict, task: str, key: str, fmt) -> list[str]:
    got, seen = r.get("splits", {}), set(r.get("trained_on", []))
    return [
        (fmt(got[name].get(key)) + (f" {TRAINED_MARK}" if name in seen else "")) if name in got else "–"
        for name in SPLIT_COLUMNS[task]
    ]


def markdown(rows: list[dict]) -> str:
    lines = [
        f"Measured on {cpu_name()} ({platform.machine()}); "
        "ms = int8 ONNX, one face, one thread, median of 300 calls. Card columns are the Keras "
        "model's; the other sources' columns score the int8 ONNX file.",
        "",
    ]
    head = "| model | tier | M MACs | weights | int8 KiB | int8 ms |"

    def cost(r: dict) -> str:
        return (
            f"| {r['model']} | {r['tier']} | {r['macs_m']} | {r['weights_k']} k | "
            f"{r.get('int8_kib', '–')} | {r.get('int8_ms', '–')} |"
        )

    def cols(task: str) -> str:
        return "".join(f" {c} |" for c in SPLIT_COLUMNS[task].values())

    def rule(n: int, last: str = "---:") -> str:
        return "|---|---|" + "---:|" * 4 + "|".join([last] * n) + "|"

    lines += [
        "### Emotion",
        "",
        head + " FER2013 PublicTest | FER+ majority |" + cols("emotion") + " pipeline_dev |",
    ]
    lines.append(rule(3 + len(SPLIT_COLUMNS["emotion"])))
    for r in (r for r in rows if r["task"] == "emotion"):
        m = r["metrics"].get("fer2013_publictest", {})
        lines.append(
            cost(r)
            + f" {pct(m.get('accuracy'))} | {pct(m.get('ferplus_majority_accuracy'))} | "
            + "".join(f"{c} | " for c in _split_cells(r, "emotion", "accuracy", pct))
            + f"{pct(r.get('pipeline_dev'))} |"
        )
    lines += [
        "",
        "### Gender",
        "",
        head + " val all | adults | under 13 | woman / man |" + cols("gender") + " pipeline_dev |",
        rule(5 + len(SPLIT_COLUMNS["gender"])),
    ]
    for r in (r for r in rows if r["task"] == "gender"):
        m = r["metrics"].get("gender_val", {})
        ages, by = m.get("by_age", {}), m.get("accuracy_by_class", {})
        lines.append(
            cost(r) + f" {pct(m.get('accuracy'))} | "
            f"{pct(ages.get('adults_18_plus', {}).get('accuracy'))} | "
            f"{pct(ages.get('under_13', {}).get('accuracy'))} | "
            f"{pct(by.get('woman'))} / {pct(by.get('man'))} | "
            + "".join(f"{c} | " for c in _split_cells(r, "gender", "accuracy", pct))
            + f"{pct(r.get('pipeline_dev'))} |"
        )
    age_rows = [r for r in rows if r["task"] == "age"]
    if age_rows:

        def years(v: float | None) -> str:
            return "–" if v is None else f"{v:.2f}"

        lines += [
            "",
            "### Age (mean absolute error in years / share within ±5 years)",
            "",
            head + "".join(f" {c} MAE | {c} ±5 |" for c in SPLIT_COLUMNS["age"].values()),
            rule(2 * len(SPLIT_COLUMNS["age"])),
        ]
        for r in age_rows:
            maes = _split_cells(r, "age", "mae", years)
            within = _split_cells(r, "age", "within_5", pct)
            lines.append(cost(r) + "".join(f" {a} | {b} |" for a, b in zip(maes, within)))
    if any(r.get("trained_on") for r in rows):
        lines += ["", TRAINED_NOTE]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(
        prog="python -m benchmarks.frontier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--pipeline-dev",
        type=Path,
        default=None,
        help="pipeline_dev folder (emotion/ and gender/) to score exported models on",
    )
    p.add_argument(
        "--data",
        nargs="*",
        default=[],
        help="evaluation .npz splits to score each model's int8 ONNX on (its task's: "
        + "; ".join(f"{t}: {', '.join(c)}" for t, c in SPLIT_COLUMNS.items())
        + ")",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    a = p.parse_args(argv)
    tiers = {name: tier for tier, tasks in shipped_index().items() for name in tasks.values()}
    folders = sorted(f for f in models_dir().iterdir() if card_path(f).is_file())
    rows = [row(f, tiers, a.pipeline_dev, a.data) for f in folders]
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
