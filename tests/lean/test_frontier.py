"""The accuracy-against-cost table covers every trained model and names the shipped tiers."""

from __future__ import annotations

import json

from benchmarks.frontier import main
from runtime.model_folder import card_path, models_dir, shipped_index


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
