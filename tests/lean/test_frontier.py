"""The accuracy-against-cost table covers every trained model and names the shipped tiers."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.frontier import main
from runtime.model_folder import card_path, models_dir, shipped_index

ROOT = Path(__file__).resolve().parents[2]


def test_every_trained_model_is_a_row_with_its_tier_and_cost(tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert main(["--json", str(out)]) == 0
    rows = {r["model"]: r for r in json.loads(out.read_text())}
    folders = [f for f in models_dir().iterdir() if card_path(f).is_file()]
    assert len(rows) == len(folders)
    for tier, tasks in shipped_index().items():
        for name in tasks.values():
            shipped = rows[json.loads(card_path(models_dir() / name).read_text())["name"]]
            assert shipped["tier"] == tier and shipped["int8_ms"] > 0 and shipped["int8_kib"] > 0
    if "nano" in shipped_index():
        for name in shipped_index()["nano"].values():
            assert rows[name]["macs_m"] <= 25.0
    assert "| model | tier | M MACs |" in capsys.readouterr().out


def test_data_splits_are_scored_with_each_models_int8_file(tmp_path, capsys):
    """A --data split of a task's table is scored for that task's models only, with their
    int8 ONNX files, and shown in its column."""
    from tests.conftest import write_blob_npz  # the shared generators (tests/conftest.py)

    split = write_blob_npz(tmp_path / "gender_aaf_val.npz", 40, seed=9)
    out = tmp_path / "rows.json"
    assert main(["--data", str(split), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    for r in rows:
        if r["task"] == "gender" and "int8_ms" in r:
            m = r["splits"]["gender_aaf_val"]
            assert m["n"] == 40 and 0 <= m["accuracy"] <= 1
        elif "splits" in r and r["task"] == "emotion":
            assert r["splits"] == {}  # a gender split is not an emotion model's
    assert "| All-Age-Faces val |" in capsys.readouterr().out
