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


def test_a_split_from_a_file_the_model_trained_on_is_marked_not_held_out():
    """CK+48 is scored as published, but a model that trained on part of it (carved by
    person) must not show that figure as if it were held out."""
    from types import SimpleNamespace

    from benchmarks.frontier import TRAINED_MARK, TRAINED_NOTE, markdown, trained_on

    card = SimpleNamespace(training={"data": ["../shared/data/fer2013_train_1of2.npz", "/x/ckplus48.npz"]})
    scored = {"ckplus48": {"accuracy": 0.845}, "expw_val": {"accuracy": 0.41}}
    assert trained_on(card, scored) == ["ckplus48"]
    assert trained_on(SimpleNamespace(training={}), scored) == []

    base = {"task": "emotion", "tier": "nano", "macs_m": 22.8, "weights_k": 340, "metrics": {}}
    seen = {**base, "model": "seen", "splits": scored, "trained_on": ["ckplus48"]}
    held = {**base, "model": "held", "splits": scored, "trained_on": []}
    lines = {line.split("|")[1].strip(): line for line in markdown([seen, held]).splitlines() if "| " in line}
    assert f"84.5 % {TRAINED_MARK}" in lines["seen"] and "41.0 % |" in lines["seen"]
    assert TRAINED_MARK not in lines["held"]
    assert TRAINED_NOTE in markdown([seen, held]) and TRAINED_NOTE not in markdown([held])
