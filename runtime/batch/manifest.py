"""The batch's memory: which inputs are done, of which content, with which models.

An input is skipped on a rerun only if its size, mtime and sha256, and the fingerprint of
the models and settings, are those of its finished output, and that output is still there;
anything else is redone. The file is rewritten atomically after every finished input.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path

from ..asset_files import ASSETS
from ..card import atomic_write_bytes
from ..model_folder import task_files
from ..options import RuntimeConfig
from .inputs import BatchInput, output_path, summary_path

MANIFEST = "manifest.json"
# Settings that cannot change an output (where it goes, how many threads).
NOT_RESULTS = frozenset({"source", "show", "output", "json", "per_image", "threads", "parallel_tasks"})


def models_fingerprint(cfg: RuntimeConfig) -> dict:
    """The sha256 of every model file a run loads (each task's export; the detectors' files
    are pinned by sha256 in the assets manifest, which the runtime verifies when it loads
    them) and the settings that shape the results."""
    files = task_files(cfg.tasks, cfg.tier, cfg.models, cfg.backend, cfg.precision)
    digests = {task: hashlib.sha256(path.read_bytes()).hexdigest() for task, path in files.items()}
    digests["detectors (assets manifest)"] = hashlib.sha256(
        (ASSETS / "manifest.json").read_bytes()
    ).hexdigest()
    settings = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in NOT_RESULTS}
    settings = json.loads(json.dumps(settings, default=str))
    key = hashlib.sha256(json.dumps([digests, settings], sort_keys=True).encode()).hexdigest()
    return {"key": key, "files": digests, "settings": settings}


class Manifest:
    def __init__(self, out_dir: Path, models: dict) -> None:
        self.path = out_dir / MANIFEST
        self.out_dir = out_dir
        self.models = models
        self.entries: dict[str, dict] = {}
        if self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text()).get("inputs", {})
            except (ValueError, AttributeError):
                self.entries = {}  # unreadable: every input is redone, nothing is lost

    def is_done(self, item: BatchInput, fingerprint: dict | None) -> bool:
        e = self.entries.get(item.key)
        return bool(
            e
            and fingerprint
            and e.get("status") == "done"
            and e.get("models") == self.models["key"]
            and e.get("input") == fingerprint
            and output_path(self.out_dir, item).is_file()
            and summary_path(self.out_dir, item).is_file()
        )

    def record(self, summary: dict) -> None:
        self.entries[summary["file"]] = {
            "status": summary["status"],
            "input": summary.get("input"),
            "models": self.models["key"],
        }
        self.save()

    def save(self) -> None:
        body = {"models": self.models, "inputs": self.entries}
        atomic_write_bytes(self.path, (json.dumps(body, indent=1) + "\n").encode())


def unchanged(item: BatchInput, entry: dict | None) -> bool:
    """Size and mtime as recorded: worth hashing to confirm (else the input changed)."""
    if not entry or not entry.get("input"):
        return False
    st = item.path.stat()
    return entry["input"].get("size") == st.st_size and entry["input"].get("mtime_ns") == st.st_mtime_ns
