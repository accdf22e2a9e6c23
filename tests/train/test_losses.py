"""The logit-adjusted loss: what it computes, and that a run trained with it resumes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_logit_adjusted_loss_is_cross_entropy_of_the_shifted_logits():
    from train.losses import training_loss

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)) * 2
    probs = _softmax(logits).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)]
    prior = np.array([0.5, 0.3, 0.15, 0.05])
    for tau, smoothing in ((0.4, 0.0), (1.0, 0.1)):
        target = y * (1 - smoothing) + smoothing / 4
        want = -(target * np.log(_softmax(logits + tau * np.log(prior)))).sum(-1).mean()
        got = float(training_loss(smoothing, prior, tau)(y, probs))
        assert got == pytest.approx(want, rel=1e-4)
    # tau 0 is Keras's own cross-entropy, and a rare class's mistakes cost more with tau > 0
    plain = float(training_loss(0.0)(y, probs))
    assert plain == pytest.approx(-(y * np.log(probs)).sum(-1).mean(), rel=1e-4)
    rare = np.eye(4, dtype=np.float32)[[3]]
    even = np.full((1, 4), 0.25, np.float32)
    assert float(training_loss(0.0, prior, 0.5)(rare, even)) > float(training_loss(0.0)(rare, even))
    with pytest.raises(ValueError, match="prior"):
        training_loss(0.0, None, 0.5)


def test_the_loss_settings_are_checked_when_the_run_is_configured():
    from train.config import TrainConfig
    from train.recipes import get_recipe

    def config(**kw) -> TrainConfig:
        return TrainConfig(task="emotion", data=["d.npz"], output="o", **kw)

    assert config(recipe=get_recipe("edge", label_smoothing=0.0)).recipe.label_smoothing == 0.0
    with pytest.raises(ValueError, match="label smoothing must be within 0..1"):
        config(recipe=get_recipe("edge", label_smoothing=1.5))
    with pytest.raises(ValueError, match="logit_adjust must be within 0..1"):
        config(logit_adjust=-0.1)


def fit(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["--task", "emotion", "--data", str(data), "--output", str(out), "--model", "tiny"]
    args += ["--recipe", "smoke", "--epochs", "2", "--threads", "1", "--quiet", "--no-report"]
    return subprocess.run(
        [sys.executable, "-m", "train", "fit", *args, "--logit-adjust", "0.5", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_a_paused_logit_adjusted_run_resumes_and_its_card_says_how_it_was_trained(emotion_npz, tmp_path):
    out = tmp_path / "run"
    r = fit(emotion_npz["train"], out, "--stop-after", "1")
    assert r.returncode == 0, r.stderr
    r = fit(emotion_npz["train"], out)  # reloads the checkpoint compiled with the custom loss
    assert r.returncode == 0, r.stderr
    assert f"resuming {out} after epoch 1" in r.stdout
    card = json.loads((out / "model.card.json").read_text())
    record = card["training"]["logit_adjusted_loss"]
    assert record["tau"] == 0.5
    assert sum(record["prior"].values()) == pytest.approx(1.0, abs=1e-3)
    assert set(record["prior"]) == set(card["labels"])
    bad = fit(emotion_npz["train"], tmp_path / "bad", "--logit-adjust", "2")
    assert bad.returncode != 0 and "logit_adjust must be within 0..1" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
