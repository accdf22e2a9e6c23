"""Age as users get it: the shipped models estimate it in both tiers, the API gives its value
and band, the JSON lines carry them (not the 101 bins), the overlay shows `~N y`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_cli import run_runtime

from runtime import model_folder

ROOT = Path(__file__).resolve().parents[2]
ASTRONAUT = ROOT / "runtime" / "assets" / "astronaut.png"
BANDS = {"0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60+"}

pytest.importorskip("mediapipe", reason="runs in the runtime environment")


def test_both_tiers_ship_an_age_model_that_says_what_its_output_means():
    for tier in model_folder.TIERS:
        card = model_folder.shipped_card("age", tier)
        assert card["output"]["kind"] == "expectation" and card["output"]["unit"] == "years"
        assert card["labels"] == [str(a) for a in range(101)]
        assert card["input"]["crop"]["calibrated"]  # measured against the default detector
        assert {"full", "centerface"} <= set(card["crops"])  # and a rule for each other one


@pytest.mark.parametrize("tier", ["accurate", "nano"])
def test_the_api_gives_an_age_with_its_band(tier):
    from runtime.api import Analyzer

    with Analyzer(tasks=("gender", "age"), tier=tier) as analyzer:
        (face,) = analyzer.analyze(str(ASTRONAUT))
    age = face.results["age"]
    assert 15 <= age.value <= 70 and age.unit == "years" and age.band in BANDS
    assert age.label == f"~{age.value:.0f} y" and age.probs is None and age.confidence is None
    assert age.to_dict()["band"] == age.band


@pytest.mark.slow
def test_the_cli_logs_and_draws_ages(tmp_path):
    out, jsonl = tmp_path / "out.png", tmp_path / "faces.jsonl"
    r = run_runtime(
        "--source",
        str(ASTRONAUT),
        "--tasks",
        "emotion,gender,age",
        "--output",
        str(out),
        "--json",
        str(jsonl),
    )
    assert r.returncode == 0, r.stderr
    (line,) = [json.loads(x) for x in jsonl.read_text().splitlines()]
    age = line["age"]
    assert (
        set(age) == {"label", "value", "unit", "band", "confidence", "probs", "raw"} and age["probs"] is None
    )
    assert age["label"] == f"~{age['value']:.0f} y" and age["band"] in BANDS
    assert " y" in r.stderr.splitlines()[-1]  # the summary's seen line names the age
    drawn = cv2.imread(str(out))
    assert drawn.shape == cv2.imread(str(ASTRONAUT)).shape and not np.array_equal(
        drawn, cv2.imread(str(ASTRONAUT))
    )
