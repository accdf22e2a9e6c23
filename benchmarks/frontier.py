"""Accuracy against cost for every trained model: the table that picks the tiers.

Cost comes from each model's card (multiply-adds, weights) and its exported int8 ONNX file
(size, and a fresh single-face timing on this CPU, one thread); accuracy from the card's
held-out splits and, with ``--pipeline-dev``, from the whole runtime on the labelled photos
(``benchmarks.pipeline_eval``, the model swapped into the default pipeline).

    python -m benchmarks.frontier --pipeline-dev ../shared/data/pipeline_dev
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


def int8_ms_per_face(path: Path) -> float:
    """One face, one thread, median of 300 calls (``runtime.backends.single_face_ms``)."""
    from runtime.backends import open_classifier, single_face_ms

    clf = open_classifier(path, threads=1)
    return single_face_ms(clf, np.zeros(clf.input_shape, np.float32), repeats=300)


def row(folder: Path, tiers: dict[str, str], pipeline_dev: Path | None) -> dict:
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
        if pipeline_dev is not None:
            from benchmarks.pipeline_eval import evaluate

            flag = f"--{card.task}-model"
            result = evaluate(
                pipeline_dev / card.task, [flag, str(folder)], PAD[card.task], card.task, log=lambda _: None
            )
            out["pipeline_dev"] = result["scores"]["accuracy"]
    return out


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def cpu_name() -> str:
    """The CPU model as lscpu names it (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def markdown(rows: list[dict]) -> str:
    lines = [
        f"Measured on {cpu_name()} ({platform.machine()}); "
        "ms = int8 ONNX, one face, one thread, median of 300 calls.",
        "",
    ]
    head = "| model | tier | M MACs | weights | int8 KiB | int8 ms |"
    lines += [
        "### Emotion",
        "",
        head + " FER2013 PublicTest | FER+ majority | pipeline_dev |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in (r for r in rows if r["task"] == "emotion"):
        m = r["metrics"].get("fer2013_publictest", {})
        lines.append(
            f"| {r['model']} | {r['tier']} | {r['macs_m']} | {r['weights_k']} k | "
            f"{r.get('int8_kib', '–')} | {r.get('int8_ms', '–')} | "
            f"{pct(m.get('accuracy'))} | {pct(m.get('ferplus_majority_accuracy'))} | "
            f"{pct(r.get('pipeline_dev'))} |"
        )
    lines += [
        "",
        "### Gender",
        "",
        head + " val all | adults | under 13 | woman / man | pipeline_dev |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in (r for r in rows if r["task"] == "gender"):
        m = r["metrics"].get("gender_val", {})
        ages, by = m.get("by_age", {}), m.get("accuracy_by_class", {})
        lines.append(
            f"| {r['model']} | {r['tier']} | {r['macs_m']} | {r['weights_k']} k | "
            f"{r.get('int8_kib', '–')} | {r.get('int8_ms', '–')} | "
            f"{pct(m.get('accuracy'))} | "
            f"{pct(ages.get('adults_18_plus', {}).get('accuracy'))} | "
            f"{pct(ages.get('under_13', {}).get('accuracy'))} | "
            f"{pct(by.get('woman'))} / {pct(by.get('man'))} | "
            f"{pct(r.get('pipeline_dev'))} |"
        )
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
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    a = p.parse_args(argv)
    tiers = {name: tier for tier, tasks in shipped_index().items() for name in tasks.values()}
    folders = sorted(f for f in models_dir().iterdir() if card_path(f).is_file())
    rows = [row(f, tiers, a.pipeline_dev) for f in folders]
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
