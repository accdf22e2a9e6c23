"""The two tables of a batch, rebuilt from the per-file outputs (each input's summary and JSON
lines), so that they can never disagree with them: one row per input, one per track.

A track is a video's track ID; on an image each face is its own track. Per task a track gets
its dominant label and that label's share of the track's frames, and the mean of every
class's probability over the frames it was classified in (``raw``); a number (an age) gets
its median over the track.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..card import atomic_write_bytes
from .inputs import BatchInput, output_path, summary_path

INPUT_COLUMNS = (
    "file",
    "kind",
    "status",
    "error",
    "frames",
    "duration",
    "fps",
    "faces",
    "tracks",
    "seconds_with_face",
)


def read_lines(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def track_rows(file: str, lines: list[dict], fps: float | None) -> list[dict]:
    groups: dict[int, list[dict]] = defaultdict(list)
    for rec in lines:
        groups[rec["track_id"]].append(rec)
    rows = []
    for track, recs in sorted(groups.items()):
        first, last = recs[0]["timestamp"], recs[-1]["timestamp"]
        row: dict = {
            "file": file,
            "track": track,
            "first_s": first,
            "last_s": last,
            "seconds": round(last - first + (1 / fps if fps else 0.0), 3),
            "frames": len(recs),
        }
        for task in [k for k, v in recs[0].items() if isinstance(v, dict)]:
            row.update(task_columns(task, [r[task] for r in recs if task in r]))
        rows.append(row)
    return rows


def task_columns(task: str, results: list[dict]) -> dict:
    if results[0].get("value") is not None:  # a number: its median, and the band most often shown
        out = {f"{task}_value": round(float(np.median([r["value"] for r in results])), 2)}
        if results[0].get("band") is not None:
            band, n = Counter(r["band"] for r in results).most_common(1)[0]
            out.update({f"{task}_band": band, f"{task}_band_share": round(n / len(results), 3)})
        return out
    label, n = Counter(r["label"] for r in results).most_common(1)[0]
    out = {f"{task}_label": label, f"{task}_share": round(n / len(results), 3)}
    raw = [r["raw"] for r in results if isinstance(r.get("raw"), dict)] or [r["probs"] for r in results]
    for cls in raw[0]:
        out[f"{task}_p_{cls}"] = round(float(np.mean([p[cls] for p in raw])), 4)
    return out


def build(out_dir: Path, items: list[BatchInput]) -> tuple[list[dict], list[dict]]:
    inputs, tracks = [], []
    for item in items:
        s_path = summary_path(out_dir, item)
        summary: dict[str, Any] = (
            json.loads(s_path.read_text()) if s_path.is_file() else {"status": "not run"}
        )
        row = {c: summary.get(c) for c in INPUT_COLUMNS}
        row.update(
            file=item.key, kind=item.kind, status=summary.get("status"), error=summary.get("error") or ""
        )
        if summary.get("status") == "done":
            lines = read_lines(output_path(out_dir, item))
            fps: float | None = summary.get("fps")
            rows = track_rows(item.key, lines, fps)
            frames_with_face = len({rec["frame"] for rec in lines})
            row.update(
                faces=len(lines),
                tracks=len(rows),
                seconds_with_face=round(frames_with_face / fps, 3) if fps else 0.0,
            )
            tracks += rows
        inputs.append(row)
    return inputs, tracks


def write_tables(out_dir: Path, items: list[BatchInput]) -> dict[str, Path]:
    """``inputs`` and ``tracks`` as Parquet and CSV in ``out_dir``, each written atomically."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    inputs, tracks = build(out_dir, items)
    written = {}
    for name, rows in (("inputs", inputs), ("tracks", tracks)):
        columns = list(dict.fromkeys(k for row in rows for k in row))  # every file's tasks and classes
        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows]) if rows else None
        if table is None:
            table = pa.table(
                {c: pa.array([], pa.string()) for c in (INPUT_COLUMNS if name == "inputs" else ("file",))}
            )
        for suffix, write in ((".parquet", pq.write_table), (".csv", pacsv.write_csv)):
            buf = io.BytesIO()
            write(table, buf)
            path = out_dir / f"{name}{suffix}"
            atomic_write_bytes(path, buf.getvalue())
            written[f"{name}{suffix}"] = path
    return written
