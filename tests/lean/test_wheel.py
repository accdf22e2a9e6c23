"""The edge-face wheel as a user gets it: built, installed into a fresh venv outside the
repository (the pinned dependencies reused from this environment, the project's code only from
the wheel), then its CLI and its Python API run on a generated clip and still."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import cv2
import pytest

pytest.importorskip("mediapipe", reason="runs in the runtime environment (make test-runtime)")
pytest.importorskip("setuptools", minversion="70", reason="the wheel builder (make setup-dist)")

ROOT = Path(__file__).resolve().parents[2]
ASTRONAUT = ROOT / "runtime" / "assets" / "astronaut.png"
SITE_NAMES = ("runtime", "train", "export", "benchmarks")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Build the wheel, make a venv in a temporary folder and install the wheel into it."""
    tmp = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_wheel.py"), "--output", str(tmp / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    wheel = Path(r.stdout.strip().splitlines()[-1])
    env = tmp / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The pinned runtime set, reused from this environment as a plain path: .pth files there
    # (this checkout's editable install among them) are not read, so no project code leaks in.
    (site / "pinned-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    work = tmp / "work"  # a folder far from the repository
    work.mkdir()
    portrait = cv2.imread(str(ASTRONAUT))
    assert portrait is not None, "run 'make setup-runtime' to fetch the test assets"
    cv2.imwrite(str(work / "still.jpg"), portrait)
    writer = cv2.VideoWriter(str(work / "clip.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (512, 512))
    for _ in range(12):
        writer.write(portrait)
    writer.release()
    return {"wheel": wheel, "python": python, "bin": env / "bin", "site": site, "work": work}


def run_in(installed: dict[str, Path], *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), cwd=installed["work"], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_wheel_holds_the_runtime_and_its_models_and_nothing_else(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"edge_face", f"edge_face-{installed['wheel'].name.split('-')[1]}.dist-info"}
    shipped = json.loads((ROOT / "trained_models" / "shipped.json").read_text())
    for tier in shipped.values():
        for name in tier.values():
            for f in ("model.int8.onnx", "model.fp32.onnx", "model.int8.tflite", "model.fp32.tflite"):
                assert f"edge_face/models/{name}/{f}" in names
                assert f"edge_face/models/{name}/{f}.card.json" in names
    assert "edge_face/assets/blazeface_short_range.tflite" in names
    assert not [n for n in names if n.endswith((".keras", ".h5", ".npz"))]
    metadata = zipfile.ZipFile(installed["wheel"]).read(next(n for n in names if n.endswith("METADATA")))
    requires = re.findall(r"^Requires-Dist: ([^;\s]+)(?:; extra == \"(\w+)\")?", metadata.decode(), re.M)

    def pins(name: str) -> set[str]:
        lines = (ROOT / "requirements" / f"{name}.txt").read_text().splitlines()
        return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}

    # The default install is the lean runtime exactly; the server's set only with [serve].
    assert {r for r, extra in requires if not extra} == pins("runtime")
    assert {r for r, extra in requires if extra == "serve"} == pins("serve")
    assert {r for r, extra in requires if extra == "scale"} == pins("scale")
    assert {"edge_face/server/app.py", "edge_face/server/static/index.html", "edge_face/batch/cli.py"} <= set(
        names
    )
    assert not [p.name for p in installed["site"].iterdir() if p.name in SITE_NAMES]


@pytest.mark.slow
def test_the_wheel_carries_exactly_the_assets_the_manifest_lists(installed):
    prefix = "edge_face/assets/"
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    packed = {n.removeprefix(prefix) for n in names if n.startswith(prefix)}
    # Read here on its own, so a slip in the builder's reading of the manifest shows too.
    manifest = json.loads((ROOT / "runtime" / "assets" / "manifest.json").read_text())
    listed = {e["name"] for w in manifest["wheels"].values() for e in w["files"].values()}
    assert packed == {"manifest.json", *listed}


def test_every_listed_asset_is_selected_whatever_its_extension_and_a_missing_one_is_an_error(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(ROOT))
    from scripts import build_wheel

    files = {"det.onnx": "sha-a", "portrait.png": "sha-b"}
    manifest = {
        "wheels": {
            "some-detector==1.0": {
                "license": "MIT",
                "files": {f"pkg/{name}": {"name": name, "sha256": sha} for name, sha in files.items()},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    for name in [*files, "stray.bin"]:  # stray.bin is on disk but not listed: it stays out
        (tmp_path / name).write_bytes(b"x")
    selected = build_wheel.asset_files(tmp_path)
    assert sorted(p.name for p in selected) == ["det.onnx", "manifest.json", "portrait.png"]
    assert all(p.parent == tmp_path for p in selected)
    (tmp_path / "det.onnx").unlink()
    with pytest.raises(SystemExit) as e:
        build_wheel.asset_files(tmp_path)
    message = str(e.value)
    assert "det.onnx" in message and "make setup-runtime" in message and "\n" not in message


@pytest.mark.slow
def test_the_installed_cli_runs_from_any_folder_with_the_packaged_models(installed):
    assert run_in(installed, str(installed["python"]), "-c", "import runtime").returncode != 0
    edge_face = str(installed["bin"] / "edge-face")
    r = run_in(installed, edge_face, "--version")
    assert r.returncode == 0, r.stderr
    assert "edge_face/models" in r.stdout and "accurate:" in r.stdout and "nano:" in r.stdout
    r = run_in(installed, edge_face, "--list-models")
    assert r.returncode == 0 and "| nano | emotion |" in r.stdout
    r = run_in(installed, edge_face, "--source", "clip.mp4", "--no-show", "--json", "out.jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in (installed["work"] / "out.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and {x["track_id"] for x in lines} == {1}
    assert lines[-1]["emotion"]["label"] == "happy" and lines[-1]["gender"]["label"] in ("woman", "man")
    r = run_in(installed, edge_face, "--source", "still.jpg", "--no-show", "--profile", "pi")
    assert r.returncode == 0, r.stderr
    assert "seen: still.jpg: #1 happy" in r.stderr


API_CHECK = """
import json, sys
import cv2, numpy as np
from PIL import Image
import edge_face

assert edge_face.__file__.startswith(sys.prefix), edge_face.__file__
frame = cv2.imread("still.jpg")
with edge_face.Analyzer(tier="nano") as analyzer:
    as_array = analyzer.analyze(frame)
    as_path = analyzer.analyze("still.jpg")
    as_pil = analyzer.analyze(Image.open("still.jpg"))
    streamed = list(analyzer.stream("clip.mp4"))
(face,) = as_array
from edge_face.detection import DetectorError
try:
    analyzer.pipeline.detector.detect(frame)
    closed = False
except DetectorError:
    closed = True
print(json.dumps({
    "labels": [face.emotion.label, face.gender.label],
    "same": [f.emotion.label for f in as_path + as_pil],
    "prob_sum": round(sum(face.emotion.probs.values()), 3),
    "frames": len(streamed),
    "record": streamed[-1][1][0].to_dict(),
    "closed": closed,
}))
"""


@pytest.mark.slow
def test_the_installed_api_analyzes_stills_and_streams(installed):
    r = run_in(installed, str(installed["python"]), "-c", API_CHECK)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["labels"][0] == "happy" and out["same"] == ["happy", "happy"]
    assert out["prob_sum"] == pytest.approx(1.0, abs=0.01) and out["frames"] == 12 and out["closed"]
    rec = out["record"]
    assert set(rec) == {"frame", "timestamp", "track_id", "box", "detector_score", "emotion", "gender", "age"}
    assert set(rec["emotion"]) == {"label", "confidence", "probs", "raw"}
    assert set(rec["age"]) == {"label", "value", "unit", "band", "confidence", "probs", "raw"}


@pytest.mark.slow
def test_the_readme_api_example_runs_as_written(installed):
    text = (ROOT / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "import edge_face" in b]
    r = run_in(installed, str(installed["python"]), "-c", example.replace("photo.jpg", "still.jpg"))
    assert r.returncode == 0, r.stderr
    assert re.search(r"\(\d+, \d+, \d+, \d+\) happy [0-9.]+ (woman|man)", r.stdout)
    assert r.stdout.count("'track_id': 1") >= 12 - 4  # a stream shows the face once confirmed


@pytest.mark.slow
def test_bad_api_input_is_a_clear_error(installed):
    code = (
        "import numpy as np, edge_face\n"
        "with edge_face.Analyzer(tasks=('emotion',)) as a:\n"
        "    try:\n"
        "        a.analyze(np.zeros((4, 4, 3), np.float32))\n"
        "    except ValueError as e:\n"
        "        print('ValueError:', e)\n"
        "    try:\n"
        "        a.analyze('missing.jpg')\n"
        "    except Exception as e:\n"
        "        print(type(e).__name__ + ':', e)\n"
    )
    r = run_in(installed, str(installed["python"]), "-c", code)
    assert r.returncode == 0, r.stderr
    assert "ValueError: an image array must be uint8" in r.stdout
    assert "SourceError: missing.jpg: not an image OpenCV can read" in r.stdout


def test_the_wheel_is_the_same_code_as_the_checkout():
    """The packaged modules are runtime/'s files: nothing is rewritten on the way in."""
    files = sorted(p.name for p in (ROOT / "runtime").glob("*.py"))
    assert "api.py" in files and "model_folder.py" in files
    for p in (ROOT / "runtime").glob("*.py"):
        assert not re.search(r"^\s*(from|import) runtime\b", p.read_text(), re.M), p.name


@pytest.mark.slow
def test_the_installed_server_serves_its_page_and_the_api(installed, tmp_path):
    """``edge-face serve`` from the wheel: the server package and its page are packaged."""
    from benchmarks.serve import ServerProcess, photo

    log = tmp_path / "server.log"
    command = (str(installed["bin"] / "edge-face"),)
    with ServerProcess("--source", "clip.mp4", command=command, cwd=installed["work"], log=log) as server:
        page = server.get("/")
        assert page.status == 200 and b"EventSource" in page.body
        r = server.analyze(photo())
        assert r.status == 200 and r.json()["faces"][0]["emotion"]["label"]
    assert server.proc is not None and server.proc.returncode == 0, server.log()
