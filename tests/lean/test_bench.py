"""The benchmark harness: a quick run's JSON, Markdown and skip of the absent reference."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mediapipe", reason="runs in the runtime environment (make test-runtime)")
pytest.importorskip("tqdm", reason="benchmark extras (make setup-bench)")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_bench_writes_figures_and_skips_the_absent_reference(tmp_path):
    """A quick run writes its own folder, never the committed figures, and says why it
    scored no accuracy."""
    from benchmarks.__main__ import COMMITTED, QUICK

    committed = {p.name: p.read_bytes() for p in COMMITTED.parent.glob("bench.*")}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--threads",
            "1,2",
            "--reference",
            str(tmp_path / "no_anchors"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert {p.name: p.read_bytes() for p in COMMITTED.parent.glob("bench.*")} == committed
    out = tmp_path / "bench.json"
    for p in QUICK.parent.glob("bench.*"):
        shutil.copy(p, tmp_path / p.name)
    res = json.loads(out.read_text())
    assert res["schema"] == 1 and res["machine"]["cores"] >= 1 and res["machine"]["libraries"]
    settings = [row["setting"] for row in res["speed"]]
    assert settings[0] == {
        "backend": "onnx",
        "precision": "int8",
        "threads": 1,
        "faces": 1,
        "resolution": "640x480",
        "detector": "short",
        "classify_every": 1,
    }
    assert {"threads": 2}.items() <= settings[1].items()
    assert any(s["faces"] == 4 for s in settings)
    for row in res["speed"]:
        assert row["fps"] > 0 and row["n_frames"] == 30
        for stage in ("detect", "preprocess", "emotion", "gender", "track", "draw"):
            t = row["stages"][stage]
            assert 0 <= t["p50_ms"] <= t["p95_ms"] <= t["p99_ms"]
        assert row["pipeline_over_detector"] == pytest.approx(
            row["frame"]["mean_ms"] / row["detector_alone"]["mean_ms"], rel=0.01
        )
    base = res["speed"][0]
    assert base["faces_per_frame"] == 1.0  # the demo face, found in every frame
    four = next(row for row in res["speed"] if row["setting"]["faces"] == 4)
    assert four["faces_per_frame"] >= 3.5
    ref_row, strided_row = res["strides"]
    assert (ref_row["detect_every"], ref_row["emotion_agreement"], ref_row["work_saved"]) == (1, 1.0, 0)
    assert (strided_row["detect_every"], strided_row["classify_every"]) == (2, 5)
    assert strided_row["missed"] == 0 and strided_row["mean_iou"] > 0.8
    assert strided_row["classify_mean_ms"] < ref_row["classify_mean_ms"]
    assert "| detect every | classify every |" in (tmp_path / "bench.md").read_text()
    assert "no_anchors" in res["reference"]["skipped"] and "fps_ratio" not in res["targets"]
    md = (tmp_path / "bench.md").read_text()
    assert "Reference pipeline: skipped" in md and "| onnx int8, 1 thr, 1 face(s)" in md
    assert "--quick skips accuracy on purpose" in md and "put the shared data" not in md
    strided = next(row for row in res["speed"] if row["setting"]["classify_every"] == 3)
    # Two frames in three classify nothing: the median frame's emotion stage is an empty call.
    # (The mean over 30 frames compared timings of 10 calls and failed once on a busy clone.)
    assert strided["stages"]["emotion"]["p50_ms"] < base["stages"]["emotion"]["p50_ms"] / 4
    assert (tmp_path / "bench.png").stat().st_size > 5000
    # The detectors as the runtime opens them by default, against the video detector before
    # issue N, on the same frames: stills add CenterFace and cost more; video stays the same.
    cases = {r["case"]: r for r in res["detectors"]}
    assert cases["video, before issue N"]["over_before"] == 1.0
    assert cases["stills, default"]["detector"] == "short+centerface" and cases["stills, default"]["tiles"]
    assert cases["stills, default"]["mean_ms"] > cases["video, before issue N"]["mean_ms"]
    assert res["targets"]["video_detector_over_before"] == cases["video, default"]["over_before"]
    assert "| stills, default | short+centerface, tiles |" in md


def test_results_page_section_is_replaced_not_duplicated(tmp_path):
    from benchmarks.report import replace_section

    page = tmp_path / "results.md"
    page.write_text("# Results\n\nHand-written prose stays.\n")
    replace_section(page, "bench", "| old |")
    replace_section(page, "bench", "| new |\n| rows |")
    text = page.read_text()
    assert text.count("<!-- bench:begin -->") == 1 and "| old |" not in text
    assert text.startswith("# Results\n\nHand-written prose stays.") and "| new |\n| rows |" in text
