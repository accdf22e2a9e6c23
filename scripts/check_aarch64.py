"""Resolve the aarch64 runtime set, alone and with each optional set (the server's, `[serve]`;
the batch runner's, `[scale]`), for Raspberry Pi OS (64-bit) on Python 3.11 and 3.13.

pip does not fall back to older glibc tags when --platform is given, so every manylinux tag
from manylinux2014 (glibc 2.17) up to glibc 2.36 (Bookworm, Raspberry Pi OS 12) is listed.
Wheels only (--only-binary): a Pi must not compile anything. Exit 1 names what fails.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.11", "3.13")
GLIBC_MAX = 36


def platform_tags() -> list[str]:
    tags = ["manylinux2014_aarch64"]
    tags += [f"manylinux_2_{minor}_aarch64" for minor in range(17, GLIBC_MAX + 1)]
    return [arg for tag in tags for arg in ("--platform", tag)]


# Each set a Pi installs: the lean runtime, and the runtime with the server (resolved together,
# so that the two agree on every shared package).
SETS = {
    "runtime": ("runtime-aarch64.txt",),
    "runtime + serve": ("runtime-aarch64.txt", "serve.txt"),
    "runtime + scale": ("runtime-aarch64.txt", "scale.txt"),
}


def resolve(python: str, requirements: list[Path], dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            *platform_tags(),
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--dest",
            str(dest),
            *[arg for r in requirements for arg in ("-r", str(r))],
        ],
        capture_output=True,
        text=True,
    )


def main() -> int:
    failed = []
    for name, files in SETS.items():
        requirements = [ROOT / "requirements" / f for f in files]
        for python in PYTHONS:
            with tempfile.TemporaryDirectory(prefix=f"aarch64-{python}-") as tmp:
                r = resolve(python, requirements, Path(tmp))
                wheels = sorted(p.name for p in Path(tmp).glob("*.whl"))
                where = f"{name}, Python {python}"
                if r.returncode != 0:
                    last = (r.stderr.strip().splitlines() or ["no output"])[-1]
                    failed.append(f"{where}: {last}")
                    print(f"{where}: FAILED: {last}")
                    continue
                bad = [w for w in wheels if "aarch64" not in w and not w.endswith("-none-any.whl")]
                if bad:
                    failed.append(f"{where}: non-aarch64 wheels {bad}")
                print(f"{where}: {len(wheels)} wheels resolve for aarch64:")
                for w in wheels:
                    print(f"  {w}")
    if failed:
        print("error: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
