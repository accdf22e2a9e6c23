"""The runtime's model files that come from pinned wheels (runtime/assets/manifest.json):
where each is and that it is the file the manifest pins. Nothing is downloaded here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .detection import DetectorError

ASSETS = Path(__file__).resolve().parent / "assets"


def asset(name: str) -> Path:
    """The verified path of one asset, or a one-line DetectorError saying how to get it."""
    path = ASSETS / name
    if not path.is_file():
        raise DetectorError(f"{path} is missing; run 'make setup-runtime' to fetch it")
    manifest = json.loads((ASSETS / "manifest.json").read_text())
    pinned = {e["name"]: e["sha256"] for w in manifest["wheels"].values() for e in w["files"].values()}
    if name not in pinned:
        raise DetectorError(f"{name} is not listed in {ASSETS / 'manifest.json'}")
    if hashlib.sha256(path.read_bytes()).hexdigest() != pinned[name]:
        raise DetectorError(
            f"{path} does not match its pinned sha256; delete it and run 'make setup-runtime' again"
        )
    return path
