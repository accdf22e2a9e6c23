"""One input, analysed exactly as ``edge-face --source FILE --json OUT`` would (the same
application code, :func:`runtime.app.run`, on an Analyzer opened once per worker), its outputs
written under a temporary name and renamed only when complete.

Each input leaves two files: its JSON lines and a small summary (``status`` first): the
summary is written last, so a file without one was never finished.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

from ..api import Analyzer
from ..app import run
from ..card import atomic_write_bytes
from ..cli import runtime_errors
from ..options import RuntimeConfig
from .inputs import BatchInput, output_path, summary_path

PARTIAL = ".partial"
# What a bad input raises (the CLI's one-line errors), and a file that cannot be read at all.
ANALYSIS_ERRORS: tuple[type[BaseException], ...] = (*runtime_errors(), OSError)


def file_fingerprint(path: Path) -> dict:
    """Size, mtime and content hash: what says an input is the one a finished output is of."""
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h.hexdigest()}


def worker_config(cfg: RuntimeConfig) -> RuntimeConfig:
    """A worker runs one file at a time and one thread per model: the pool or the cluster,
    not the tasks, spreads the work over the cores."""
    return replace(
        cfg, show=False, output=None, json=None, per_image=None, max_frames=None, parallel_tasks=False
    )


def open_analyzer(cfg: RuntimeConfig) -> Analyzer:
    return Analyzer(worker_config(cfg))


def analyze_input(analyzer: Analyzer, item: BatchInput, out_dir: Path) -> dict:
    """Analyse ``item`` into ``out_dir``; returns its summary (also written beside its lines).
    A file that cannot be read becomes an error summary; nothing partial is left behind."""
    out = output_path(out_dir, item)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}{PARTIAL}")
    cfg = replace(analyzer.config, source=str(item.path), json=tmp)
    summary: dict = {"file": item.key, "kind": item.kind}
    notes: list[str] = []
    try:
        summary["input"] = file_fingerprint(item.path)
        result = run(cfg, log=notes.append, analyzer=analyzer)
        if result.stopped:  # a signal reached the worker: the lines are incomplete
            raise InterruptedError(result.stopped)
        os.replace(tmp, out)
    except InterruptedError as e:  # Ctrl-C reached the worker too: nothing of this file is kept
        tmp.unlink(missing_ok=True)
        return {**summary, "status": "interrupted", "error": str(e)}
    except ANALYSIS_ERRORS as e:
        tmp.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
        summary.update(status="error", error=_one_line(e))
    else:
        fps = result.source_fps if item.kind == "video" else None
        summary.update(
            status="done",
            error=result.note,
            frames=result.frames,
            fps=fps,
            duration=round(result.frames / fps, 3) if fps else 0.0,
            seconds=round(result.seconds, 3),  # the time it took here (a timing field)
            output=str(out.relative_to(out_dir)),
        )
    atomic_write_bytes(summary_path(out_dir, item), (json.dumps(summary, indent=1) + "\n").encode())
    return summary


def _one_line(e: BaseException) -> str:
    text = str(e).strip().replace("\n", " ")
    return text if isinstance(e, runtime_errors()) else f"{type(e).__name__}: {text}"
