"""Benchmark JSON -> Markdown tables and a PNG chart."""

from __future__ import annotations

from pathlib import Path

from runtime.markdown import table
from runtime.pipeline import STAGES_AFTER_TASKS, STAGES_BEFORE_TASKS, stage_order

SHOWN_FIXED = {"detect", "preprocess", "track", "draw"}  # read and output are not a model's work


def table_stages(rows: list[dict]) -> list[str]:
    """The stages worth a column: detection, preprocessing, each task's engine, tracking and
    drawing, in the runtime's order (the tasks are those the rows timed)."""
    fixed = set(STAGES_BEFORE_TASKS) | set(STAGES_AFTER_TASKS)
    tasks = list(dict.fromkeys(s for r in rows for s in r.get("stages", {}) if s not in fixed))
    return [s for s in stage_order(tasks) if s in SHOWN_FIXED or s in tasks]


def agreement_tasks(rows: list[dict]) -> list[str]:
    """The tasks a stride study compared (its ``<task>_agreement`` figures)."""
    return list(
        dict.fromkeys(k.removesuffix("_agreement") for r in rows for k in r if k.endswith("_agreement"))
    )


def _ms(d: dict | None, key: str = "p50_ms") -> str:
    return "–" if not d or key not in d else f"{d[key]:.2f}"


def speed_table(result: dict) -> list[str]:
    stages = table_stages(result.get("speed", []))
    header = ["setting", "faces found / frame", "FPS", "frame p50 / p95 / p99 ms"]
    header += [f"{s} p50" for s in stages] + ["detector alone p50", "pipeline ÷ detector"]
    rows = []
    for row in result.get("speed", []):
        s, f = row["setting"], row["frame"]
        rows.append(
            [
                f"{s['backend']} {s['precision']}, {s['threads']} thr, {s['faces']} face(s), "
                f"{s['resolution']}, {s['detector']}, every {s['classify_every']}",
                f"{row['faces_per_frame']:.2f}",
                f"{row['fps']:.1f}",
                f"{f['p50_ms']:.2f} / {f['p95_ms']:.2f} / {f['p99_ms']:.2f}",
                *(_ms(row["stages"].get(st)) for st in stages),
                _ms(row["detector_alone"]),
                f"{row['pipeline_over_detector']:.2f}",
            ]
        )
    return table(header, rows, "lrrl" + "r" * len(stages) + "rr")


def detectors_table(result: dict) -> list[str]:
    rows = result.get("detectors", [])
    if not rows:
        return []
    header = ["detector time (640x480, one face)", "detector", "p50 / p95 ms", "mean ms", "÷ before"]
    body = [
        [
            r["case"],
            r["detector"] + (", tiles" if r["tiles"] else ""),
            f"{r['p50_ms']:.2f} / {r['p95_ms']:.2f}",
            f"{r['mean_ms']:.2f}",
            f"{r['over_before']:.2f} ×",
        ]
        for r in rows
    ]
    return table(header, body, "llrrr")


def stride_table(result: dict) -> list[str]:
    rows = result.get("strides", [])
    if not rows:
        return []
    lines = [
        f"Strides on {rows[0]['clip']} ({rows[0]['frames']} frames), against detecting and "
        "classifying every frame:",
        "",
    ]

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.1f} %"

    header = ["detect every", "classify every", "ms / frame", "detect ms", "classify ms", "work saved"]
    tasks = agreement_tasks(rows)
    header += ["faces missed", "box IoU", *(f"{t} agrees" for t in tasks)]
    body = [
        [
            r["detect_every"],
            r["classify_every"],
            f"{r['frame_mean_ms']:.2f}",
            f"{r['detect_mean_ms']:.2f}",
            f"{r['classify_mean_ms']:.2f}",
            pct(r["work_saved"]),
            f"{r['missed']} / {r['faces']}",
            "–" if r["mean_iou"] is None else f"{r['mean_iou']:.3f}",
            *(pct(r.get(f"{t}_agreement")) for t in tasks),
        ]
        for r in rows
    ]
    return lines + table(header, body, "r" * len(header))


def reference_lines(result: dict) -> list[str]:
    ref = result.get("reference", {})
    if "skipped" in ref:
        return [f"Reference pipeline: skipped ({ref['skipped']})."]
    header = ["reference pipeline (Haar + Keras per face)", "faces found / frame", "FPS"]
    header += ["frame p50 / p95 / p99 ms", "detect p50", "emotion p50", "gender p50"]
    rows = [
        [
            name,
            f"{r['faces_per_frame']:.2f}",
            f"{r['fps']:.1f}",
            f"{r['frame']['p50_ms']:.1f} / {r['frame']['p95_ms']:.1f} / {r['frame']['p99_ms']:.1f}",
            *(_ms(r["stages"][s]) for s in ("detect", "emotion", "gender")),
        ]
        for name, r in ref.get("speed", {}).items()
    ]
    return table(header, rows, "lrrlrrr")


def targets_lines(result: dict) -> list[str]:
    t = result.get("targets", {})
    if not t:
        return []
    rows = []
    if "fps_ratio" in t:
        rows.append(
            [
                "our FPS ≥ 20 × the reference's",
                f"{t['fps_ratio']:.1f} × ({t['ours_fps']:.1f} vs {t['reference_fps']:.1f} FPS)",
                "yes" if t["fps_ratio"] >= 20 else "**no**",
            ]
        )
    rows.append(
        [
            "pipeline time ≤ 1.3 × the detector's alone",
            f"{t['pipeline_over_detector']:.2f} ×",
            "yes" if t["pipeline_over_detector"] <= 1.3 else "**no**",
        ]
    )
    if "video_detector_over_before" in t:
        v = t["video_detector_over_before"]
        rows.append(
            [
                "webcam default's detector time ≤ 1.3 × before issue N",
                f"{v:.2f} ×",
                "yes" if v <= 1.3 else "**no**",
            ]
        )
    return table(["target (640x480, one face, 1 thread)", "measured", "met"], rows, "lrl")


def accuracy_table(result: dict) -> list[str]:
    rows = result.get("accuracy", [])
    ref = result.get("reference", {}).get("accuracy", {})
    if not rows and not ref:
        why = result.get("accuracy_skipped", "no evaluation data given (pass --data FILES)")
        return [f"Accuracy: skipped: {why}."]

    def cells(name: str, file: str, split: str, m: dict) -> list[object]:
        wm = m.get("accuracy_by_class", {})
        adults = m.get("by_age", {}).get("adults_18_plus", {}).get("accuracy")
        return [
            name,
            file,
            split,
            m["n"],
            f"{100 * m['accuracy']:.2f} %",
            f"{100 * m['balanced_accuracy']:.2f} %",
            f"{100 * wm['woman']:.2f} / {100 * wm['man']:.2f}" if "woman" in wm else "–",
            "–" if adults is None else f"{100 * adults:.2f} %",
        ]

    estimates = [r for r in rows if "mae" in r]  # age: errors in years, a table of its own
    body = [cells(r["model"], r["file"], r["split"], r) for r in rows if "mae" not in r]
    for key, m in ref.items():
        task, split = key.split(":", 1)
        body.append(cells(f"reference mini-Xception ({task})", "hdf5 (Keras)", split, m))
    header = ["model", "file", "split", "n", "accuracy", "balanced", "woman / man", "adults"]
    out = table(header, body, "lllrrrlr")
    if estimates:
        years = [
            [
                r["model"],
                r["file"],
                r["split"],
                r["n"],
                f"{r['mae']:.2f}",
                f"{100 * r['within_5']:.1f} %",
                f"{r['bias']:+.2f}",
            ]
            for r in estimates
        ]
        header = ["model", "file", "split", "n", "MAE (years)", "within ±5", "bias"]
        out += ["", *table(header, years, "lllrrrr")]
    return out


def markdown(result: dict) -> str:
    m = result["machine"]
    head = [
        f"Measured {result['date']} on {m['cpu']} ({m['cores']} cores), {m['os']}, "
        f"Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()),
        "",
        f"Command: `{result['command']}`",
        "",
    ]
    body = [
        "### Speed",
        "",
        *speed_table(result),
        "",
        *reference_lines(result),
        "",
        *detectors_table(result),
        "",
        *stride_table(result),
        "",
    ]
    if result.get("decode"):
        d = result["decode"]
        body += [
            f"Decoding {d['source']}: p50 {d['p50_ms']:.2f} ms per frame (timed apart, "
            f"before the pipeline runs).",
            "",
        ]
    body += ["### Targets", "", *targets_lines(result), "", "### Accuracy", "", *accuracy_table(result)]
    return "\n".join(head + body) + "\n"


def chart(result: dict, path: Path) -> bool:
    """FPS per setting (and the reference's), as a horizontal bar chart; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = result.get("speed", [])
    labels = [
        f"{r['setting']['backend']} {r['setting']['precision']} {r['setting']['threads']}t "
        f"{r['setting']['faces']}f {r['setting']['resolution']} {r['setting']['detector']} "
        f"/{r['setting']['classify_every']}"
        for r in rows
    ]
    fps = [r["fps"] for r in rows]
    for name, r in result.get("reference", {}).get("speed", {}).items():
        labels.append(f"reference {name}")
        fps.append(r["fps"])
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.2))
    ax.barh(
        labels[::-1],
        fps[::-1],
        color=["#c44" if lb.startswith("reference") else "#48c" for lb in labels[::-1]],
    )
    ax.set_xlabel("frames per second (higher is better)")
    ax.set_title(f"edge-face pipeline on {result['machine']['cpu']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def replace_section(page: Path, name: str, text: str) -> None:
    """Put ``text`` between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in a Markdown page
    (appended with its markers the first time), so generated figures never mix with prose."""
    from runtime.card import atomic_write_bytes

    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    old = page.read_text() if page.exists() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    atomic_write_bytes(page, new.encode())
