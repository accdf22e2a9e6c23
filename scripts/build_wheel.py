"""Build the edge-face wheel: the lean runtime as the package ``edge_face``, with the shipped
models of every tier and the detector models inside, and the runtime's pinned dependencies.

    .venv-runtime/bin/python scripts/build_wheel.py --output dist/

The repository keeps its layout (``runtime/`` and the other top-level packages); the wheel
maps ``runtime/`` to ``edge_face/`` (the runtime imports itself relatively), so nothing named
``runtime``, ``train``, ``export`` or ``benchmarks`` ever lands in site-packages. No training
code, no TensorFlow, no data: only what ``edge-face`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime import model_folder  # noqa: E402  (standard library only)
from scripts import fetch_assets  # noqa: E402  (the manifest's one reader; standard library only)

PACKAGE = "edge_face"
# The exports a wheel carries per shipped model: int8 and fp32 of both engines (the fp16
# TFLite file serves no CPU better than these two).
WHEEL_EXPORTS = ("model.int8.onnx", "model.fp32.onnx", "model.int8.tflite", "model.fp32.tflite")


def requirements(name: str = "runtime") -> list[str]:
    """The pins of requirements/<name>.txt, exactly (comments and blank lines dropped)."""
    lines = (ROOT / "requirements" / f"{name}.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def runtime_requirements() -> list[str]:
    return requirements("runtime")


# The wheel's optional extras, each exactly its requirements file: `pip install edge-face[serve]`.
EXTRAS = {"serve": "serve", "scale": "scale"}


def asset_files(assets: Path) -> list[Path]:
    """The files of ``assets`` a wheel carries: its manifest and every asset the manifest lists,
    whatever the extension. A listed asset missing on disk stops the build (one line says which),
    rather than a wheel that lacks it."""
    manifest = assets / fetch_assets.MANIFEST
    if not manifest.is_file():
        raise SystemExit(f"error: {manifest} is missing; it lists the runtime's assets")
    files = [assets / name for name in fetch_assets.asset_names(fetch_assets.read_manifest(assets))]
    absent = [p.name for p in files if not p.is_file()]
    if absent:
        raise SystemExit(
            f"error: {assets} lacks {', '.join(absent)}, listed in {manifest.name}; "
            "run 'make setup-runtime' first"
        )
    return [manifest, *files]


def stage(tmp: Path) -> Path:
    """A source tree for setuptools: pyproject.toml and edge_face/ with models and assets."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    src = tmp / "src"
    pkg = src / PACKAGE
    shutil.copytree(ROOT / "runtime", pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "assets"))
    (pkg / "assets").mkdir()
    for p in asset_files(ROOT / "runtime" / "assets"):
        shutil.copy2(p, pkg / "assets" / p.name)
    models = pkg / model_folder.PACKAGED_MODELS
    models.mkdir()
    shutil.copy2(model_folder.models_dir() / model_folder.SHIPPED_INDEX, models / model_folder.SHIPPED_INDEX)
    for folder in model_folder.shipped_folders():
        (models / folder.name).mkdir()
        for name in WHEEL_EXPORTS:
            for path in (folder / name, model_folder.card_path(folder / name)):
                if not path.is_file():
                    raise SystemExit(f"error: {path} is missing; run 'make export' first")
                shutil.copy2(path, models / folder.name / path.name)
    deps = ", ".join(f'"{r}"' for r in runtime_requirements())
    extras = "\n".join(
        f"{extra} = [{', '.join(repr(r) for r in requirements(name))}]" for extra, name in EXTRAS.items()
    )
    (src / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["setuptools>=70"]
build-backend = "setuptools.build_meta"

[project]
name = "edge-face"
version = "{project["version"]}"
description = "Real-time emotion and gender recognition for the edge: the lean runtime with its models"
requires-python = "{project["requires-python"]}"
license = {{ text = "MIT" }}
dependencies = [{deps}]

[project.optional-dependencies]
{extras}

[project.scripts]
edge-face = "{PACKAGE}.__main__:main"

[tool.setuptools]
packages = ["{PACKAGE}", "{PACKAGE}.server", "{PACKAGE}.batch"]
include-package-data = false

[tool.setuptools.package-data]
{PACKAGE} = ["assets/*", "{model_folder.PACKAGED_MODELS}/*.json", "{model_folder.PACKAGED_MODELS}/*/*"]
"{PACKAGE}.server" = ["static/*"]
"""
    )
    return src


def build(output: Path) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edge-face-wheel-") as tmp:
        src = stage(Path(tmp))
        r = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp, str(src)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise SystemExit(
                f"error: the wheel did not build: {(r.stderr.strip().splitlines() or ['?'])[-1]}"
            )
        (wheel,) = Path(tmp).glob("edge_face-*.whl")
        target = output / wheel.name
        partial = target.with_name(f".{target.name}.tmp")
        shutil.copy2(wheel, partial)
        os.replace(partial, target)  # only a finished wheel ever appears in --output
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", type=Path, default=ROOT / "dist", help="folder for the wheel (dist/)")
    a = p.parse_args(argv)
    print(build(a.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
