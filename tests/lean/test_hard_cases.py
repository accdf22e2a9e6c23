"""Whole-pipeline accuracy on cut and enlarged faces: the folders it writes, each case with its
photo's label, and a run through the real runtime on a folder built here (no shared data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from benchmarks.hard_cases import FAMILIES, LEVELS, main, write_folders

ASTRONAUT = Path(__file__).resolve().parents[2] / "runtime" / "assets" / "astronaut.png"

pytest.importorskip("mediapipe", reason="runs in the runtime environment")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    """A labelled folder of one portrait (a woman) and a file that is not an image."""
    folder = tmp_path_factory.mktemp("labelled")
    (folder / "images").mkdir()
    cv2.imwrite(str(folder / "images" / "astronaut.jpg"), cv2.imread(str(ASTRONAUT)))
    (folder / "labels.csv").write_text("file,label\nastronaut.jpg,woman\n")
    return folder


def test_each_family_gets_its_cases_with_the_photos_label(labelled, tmp_path):
    folders = write_folders(labelled, tmp_path, photos=5, pad=0, seed=0)
    assert set(folders) == set(FAMILIES)
    counts = {}
    for family, folder in folders.items():
        rows = list(csv.DictReader((folder / "labels.csv").open()))
        assert {r["label"] for r in rows} == {"woman"}
        assert all(cv2.imread(str(folder / r["file"])) is not None for r in rows)
        counts[family] = len(rows)
    # one photo qualifies; four edges at each cut level; the enlargements the 512 px photo allows
    assert counts["full"] == 1
    assert counts["edge_cut/<=40"] == 4 * len(LEVELS["edge_cut"])
    assert 1 <= counts["enlarged"] <= len(LEVELS["enlarged"])
    cut = cv2.imread(str(folders["edge_cut/<=40"] / "0000_01.png"))
    assert cut.shape[1] < 512  # cut at the left edge: narrower than the photo


def test_a_run_scores_every_family_through_the_runtime(labelled, tmp_path):
    out = tmp_path / "hard"
    assert main(["--data", str(labelled), "--photos", "1", "--output", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["task"] == "gender" and result["photos"] == 1
    full = result["families"]["full"]
    assert (full["n"], full["detection_rate"], full["accuracy"]) == (1, 1.0, 1.0)
    cut = result["families"]["edge_cut/<=40"]
    assert cut["n"] == 12 and 0.5 <= cut["detection_rate"] <= 1.0
    assert "| edge cut 20–40 % | 12 |" in out.with_suffix(".md").read_text()


def test_a_folder_without_labels_is_one_line(tmp_path, capsys):
    assert main(["--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "labels.csv" in err and "\n" not in err
