"""The export table: every file of every model, its size, accuracy, agreement and speed."""

from __future__ import annotations

import json
from pathlib import Path

from export.pipeline import Exported, Held
from runtime.card import ModelCard, atomic_write_bytes
from runtime.markdown import table


def build_report(
    card: ModelCard, model_path: Path, held: list[Held], records: list[Exported], previous: dict | None = None
) -> dict:
    """This run's rows, plus the previous report's rows for files not exported this time
    (``--only``) that are still on disk."""
    kind = card.kind
    if kind.is_value:  # a value (age): the Keras model's error, not a top-1
        keras_checks = {
            h.name: {"mae": round(float(abs(kind.estimates(h.reference) - h.data.labels).mean()), 6)}
            for h in held
        }
    else:
        keras_checks = {
            h.name: {"accuracy": round(float((h.reference.argmax(1) == h.data.labels).mean()), 6)}
            for h in held
        }
    rows = [
        {
            "file": model_path.name,
            "format": "keras",
            "precision": "float32",
            "ok": True,
            "size": model_path.stat().st_size,
            "checks": keras_checks,
            "latency_ms_1_thread": None,
            "error": "",
        }
    ]
    rows += [r.row() for r in records]
    done = {r["file"] for r in rows}
    for old in (previous or {}).get("rows", []):
        if old["file"] not in done and old["ok"] and (model_path.parent / old["file"]).exists():
            rows.append(old)
    rows[1:] = sorted(rows[1:], key=lambda r: (r["format"], r["precision"] != "float32", r["precision"]))
    return {"model": card.name, "task": card.task, "splits": [h.name for h in held], "rows": rows}


def read_report(folder: Path) -> dict | None:
    path = folder / "export.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_report(folder: Path, report: dict) -> None:
    atomic_write_bytes(folder / "export.json", (json.dumps(report, indent=2) + "\n").encode())
    atomic_write_bytes(folder / "export.md", (table_markdown([report]) + "\n").encode())


def table_markdown(reports: list[dict]) -> str:
    header = ["model", "file", "format", "precision", "size (KiB)", "split", "accuracy (a value: its MAE)"]
    header += [
        "agreement with Keras (top-1; a value: mean difference)",
        "max abs diff",
        "ms per face (1 thread)",
    ]
    rows = []
    for rep in reports:
        for row in rep["rows"]:
            for split in rep["splits"]:
                c = row["checks"].get(split, {})
                acc = f"{100 * c['accuracy']:.2f} %" if "accuracy" in c else "–"
                if "mae" in c:
                    acc = f"MAE {c['mae']:.3f}"
                agree = f"{100 * c['top1_agreement']:.2f} %" if "top1_agreement" in c else "–"
                if "mean_abs_diff" in c:
                    agree = f"{c['mean_abs_diff']:.3f}"
                diff = f"{c['max_abs_diff']:.1e}" if "max_abs_diff" in c else "–"
                ms = row["latency_ms_1_thread"]
                status = "" if row["ok"] else f" **failed: {row['error']}**"
                rows.append(
                    [
                        rep["model"],
                        f"{row['file']}{status}",
                        row["format"],
                        row["precision"],
                        f"{row['size'] / 1024:.0f}",
                        split,
                        acc,
                        agree,
                        diff,
                        "–" if ms is None else f"{ms:.3f}",
                    ]
                )
    return "\n".join(table(header, rows, "llllrlrrrr"))
