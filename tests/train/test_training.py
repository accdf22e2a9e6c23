"""A tiny but real training run: interrupted mid-epoch, resumed, evaluated, reported."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


TINY = ("--model", "tiny", "--recipe", "smoke", "--threads", "1", "--quiet")


def run_train(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "train", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def fit_args(data: Path, out: Path, epochs: int = 4, *extra: str) -> list[str]:
    return [
        "fit",
        "--task",
        "emotion",
        "--data",
        str(data),
        "--output",
        str(out),
        "--model",
        "tiny",
        "--recipe",
        "smoke",
        "--epochs",
        str(epochs),
        "--threads",
        "1",
        "--quiet",
        *extra,
    ]


@pytest.mark.slow
def test_killed_mid_epoch_resumes_and_matches_uninterrupted_run(emotion_npz, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "train", *fit_args(emotion_npz["train"], out, 4)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state = out / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epochs_done"] >= 1:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # well into the second epoch
    assert proc.poll() is None, "training finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 4
    assert (out / "checkpoints" / "last.keras").exists() and not (out / "model.keras").exists()
    assert not list(out.rglob("*.tmp*")) or all(p.stat().st_size >= 0 for p in out.rglob("*.tmp*"))

    r = run_train(*fit_args(emotion_npz["train"], out, 4))
    assert r.returncode == 0, r.stderr
    assert f"resuming {out} after epoch {done}" in r.stdout
    log = pd.read_csv(out / "log.csv")
    assert log.epoch.tolist() == [1, 2, 3, 4]

    ref = tmp_path / "straight"
    r = run_train(*fit_args(emotion_npz["train"], ref, 4))
    assert r.returncode == 0, r.stderr
    ref_log = pd.read_csv(ref / "log.csv")
    # Epochs before the kill are the same computation; later ones agree within noise.
    pd.testing.assert_frame_equal(
        log.iloc[:done].drop(columns="seconds"), ref_log.iloc[:done].drop(columns="seconds")
    )
    assert abs(log.val_accuracy.iloc[-1] - ref_log.val_accuracy.iloc[-1]) <= 0.1

    card = json.loads((out / "model.card.json").read_text())
    assert card["task"] == "emotion" and card["labels"][6] == "neutral"
    assert card["input"]["normalization"] == {"scale": 2 / 255, "offset": -1.0}
    assert card["training"]["command"].startswith("python -m train fit")
    assert card["training"]["epochs_run"] == 4
    assert card["metrics"]["validation"]["n"] > 0


@pytest.fixture(scope="module")
def trained(emotion_npz, tmp_path_factory) -> Path:
    """One finished 6-epoch run, shared: scored here, then a warm-start source and a teacher."""
    out = tmp_path_factory.mktemp("trained") / "run"
    r = run_train(*fit_args(emotion_npz["train"], out, 6, "--eval", str(emotion_npz["test"])))
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.slow
def test_training_learns_and_evaluate_prints_json(emotion_npz, trained):
    out = trained
    card = json.loads((out / "model.card.json").read_text())
    test = card["metrics"]["emo_test"]
    assert test["n"] == 210 and test["accuracy"] > 0.4  # 7 classes: chance is 0.14
    from train.data import carve_split, training_set

    rows = training_set([str(emotion_npz["train"])], "emotion", "fer")
    assert card["training"]["split"]["train_fingerprint"] == carve_split(rows, 0.25, 1).fingerprint
    for f in ("curves.png", "confusion_emo_test.png", "gradcam_emo_test.png", "metrics.json"):
        assert (out / "report" / f).stat().st_size > 1000
    assert "| disgust |" in (out / "report.md").read_text()

    r = run_train("evaluate", "--model", str(out / "model.keras"), "--data", str(emotion_npz["test"]))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)[str(emotion_npz["test"])]
    assert result["accuracy"] == test["accuracy"]
    assert len(result["per_class"]) == 7 and len(result["confusion"]) == 7

    r = run_train("results", str(out / "model.card.json"))
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if "| emo_test |" in line)
    assert f"| {test['accuracy']:.4f} |" in row


@pytest.mark.slow
def test_gender_run_reports_age_bands_and_each_class(gender_npz, tmp_path):
    out = tmp_path / "gender"
    r = run_train(
        "fit",
        "--task",
        "gender",
        "--data",
        str(gender_npz["train"]),
        "--output",
        str(out),
        "--model",
        "tiny",
        "--recipe",
        "smoke",
        "--epochs",
        "3",
        "--threads",
        "1",
        "--quiet",
        "--eval",
        str(gender_npz["val"]),
    )
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "model.card.json").read_text())["metrics"]["g_val"]
    assert set(m["accuracy_by_class"]) == {"woman", "man"}
    assert set(m["by_age"]) <= {"under_13", "13_17", "adults_18_plus"}
    assert sum(b["n"] for b in m["by_age"].values()) == 120
    assert json.loads((out / "model.card.json").read_text())["input"]["colour"] == "rgb"

    r = run_train("balance", "--model", str(out), "--threads", "1")
    assert r.returncode == 0, r.stderr
    cal = json.loads((out / "model.card.json").read_text())["training"]["calibration"]
    gap = lambda d: abs(d["woman"] - d["man"])  # noqa: E731
    assert gap(cal["validation_recall_after"]) <= gap(cal["validation_recall_before"])
    r = run_train("evaluate", "--model", str(out / "model.keras"), "--data", str(gender_npz["val"]))
    assert r.returncode == 0, r.stderr  # the rewritten model matches its updated card checksum


def test_equal_recall_shift_finds_the_balancing_offset():
    import numpy as np

    from train.balance import equal_recall_shift, recalls

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 500)
    logit = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.2, 1000) + 0.8  # biased towards class 1
    p1 = 1 / (1 + np.exp(-logit))
    probs = np.stack([1 - p1, p1], axis=1)
    r0, r1 = recalls(probs, y, 0.0)
    assert r1 - r0 > 0.2
    s = equal_recall_shift(probs, y)
    r0, r1 = recalls(probs, y, s)
    assert s == pytest.approx(-0.8, abs=0.25) and abs(r0 - r1) < 0.02


def test_prior_correction_buys_balance_with_at_most_a_point_of_accuracy():
    import numpy as np

    from train.balance import MAX_ACCURACY_COST, TAUS, adjusted, prior_correction

    rng = np.random.default_rng(0)
    prior = np.array([0.6, 0.3, 0.1])
    y = rng.choice(3, 3000, p=[0.4, 0.3, 0.3])  # users' shares differ from training's
    logits = 1.5 * np.eye(3)[y] + rng.normal(0, 1.0, (3000, 3)) + np.log(prior)  # trained on the prior
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    tau, scores = prior_correction(probs, y, prior)
    assert tau in TAUS and len(scores) == len(TAUS)
    by_tau = {s["tau"]: s for s in scores}
    allowed = [s for s in scores if s["accuracy"] >= by_tau[0.0]["accuracy"] - MAX_ACCURACY_COST]
    assert by_tau[tau] in allowed
    assert all(by_tau[tau]["balanced_accuracy"] >= s["balanced_accuracy"] for s in allowed)
    assert tau >= 0.3  # the rare class was under-called: the correction is real
    assert by_tau[tau]["balanced_accuracy"] > by_tau[0.0]["balanced_accuracy"] + 0.05
    rare = adjusted(probs, prior, tau) == 2
    assert rare.mean() > (probs.argmax(1) == 2).mean()


def test_prior_correction_counts_a_learnt_tau_in_the_total():
    """A model that learnt part of the correction (--logit-adjust) ends at the same total."""
    import numpy as np

    from train.balance import prior_correction

    rng = np.random.default_rng(1)
    prior = np.array([0.6, 0.3, 0.1])
    y = rng.choice(3, 3000, p=[0.4, 0.3, 0.3])
    logits = 1.5 * np.eye(3)[y] + rng.normal(0, 1.0, (3000, 3)) + np.log(prior)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    plain, _ = prior_correction(probs, y, prior)
    learnt = 0.4  # the same model, had it learnt 0.4 of the correction in training
    shifted = np.exp(logits - learnt * np.log(prior))
    tau, scores = prior_correction(shifted / shifted.sum(1, keepdims=True), y, prior, learnt)
    assert tau + learnt == pytest.approx(plain, abs=1e-6)
    assert min(s["tau"] for s in scores) == pytest.approx(-learnt)  # it may give some back


@pytest.mark.slow
def test_an_emotion_model_is_balanced_by_logit_adjustment_folded_into_its_bias(trained, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained, out, ignore=shutil.ignore_patterns("checkpoints"))
    r = run_train("balance", "--model", str(out), "--threads", "1")
    assert r.returncode == 0, r.stderr
    cal = json.loads((out / "model.card.json").read_text())["training"]["calibration"]
    assert sum(cal["prior"].values()) == pytest.approx(1, abs=1e-3)
    assert set(cal["logit_shift"]) == set(cal["prior"])
    chosen = next(s for s in cal["validation_scores"] if s["tau"] == cal["tau"])
    # the rewritten model scores on its validation split what the correction promised
    assert json.loads((out / "model.card.json").read_text())["metrics"]["validation"]["accuracy"] == (
        pytest.approx(chosen["accuracy"], abs=1e-4)
    )
    keras_before = (out / "model.keras").read_bytes()
    r = run_train("balance", "--model", str(out), "--threads", "1")  # a rerun of make train-emotion
    assert r.returncode == 0 and "already balanced" in r.stderr, r.stderr
    assert (out / "model.keras").read_bytes() == keras_before  # not corrected twice
    assert json.loads((out / "model.card.json").read_text())["training"]["calibration"] == cal


@pytest.mark.slow
def test_changed_settings_refuse_to_resume(emotion_npz, tmp_path):
    out = tmp_path / "run"
    r = run_train(*fit_args(emotion_npz["train"], out, 2, "--stop-after", "1"))
    assert r.returncode == 0 and "paused" in r.stdout
    r = run_train(*fit_args(emotion_npz["train"], out, 2, "--seed", "7"))
    assert r.returncode == 2
    assert "different settings (seed)" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_warm_start_continues_a_model_on_the_same_split_only(emotion_npz, trained, tmp_path):
    src = trained

    refused = tmp_path / "other_split"
    r = run_train(*fit_args(emotion_npz["train"], refused, 1, "--init-from", str(src), "--seed", "7"))
    assert r.returncode == 2 and "validation split" in r.stderr and "Traceback" not in r.stderr
    assert not refused.exists()

    # Same data, seed and rule, but other rows (--limit): the source's fingerprint tells.
    r = run_train(*fit_args(emotion_npz["train"], refused, 1, "--init-from", str(src), "--limit", "700"))
    assert r.returncode == 2 and "train_fingerprint" in r.stderr and "Traceback" not in r.stderr
    assert not refused.exists()

    out = tmp_path / "second"
    r = run_train(*fit_args(emotion_npz["train"], out, 1, "--init-from", str(src / "model.keras")))
    assert r.returncode == 0, r.stderr
    first, second = (json.loads((d / "model.card.json").read_text()) for d in (src, out))
    init = second["training"]["init_from"]
    assert init["sha256"] == first["files"]["model.keras"]["sha256"] and init["epochs_run"] == 6
    # Trained weights, not random ones: the continuation starts well below a fresh start's loss.
    assert pd.read_csv(out / "log.csv").loss[0] < pd.read_csv(src / "log.csv").loss[0] - 0.05


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "--model", "nope.keras", "--data", "x.npz"], "not found"),
        (["fit", "--task", "emotion", "--data", "missing.npz", "--output", "{out}"], "not found"),
    ],
)
@pytest.mark.slow
def test_bad_input_gives_one_line_error(args, message, tmp_path):
    out = tmp_path / "out"
    r = run_train(*[a.format(out=out) for a in args])
    assert not out.exists()  # nothing written for a run that cannot start
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_distillation_mixes_the_teachers_probabilities_into_the_targets(emotion_npz, trained, tmp_path):
    teacher = trained

    refused = tmp_path / "other_split"
    r = run_train(*fit_args(emotion_npz["train"], refused, 1, "--teacher", str(teacher), "--seed", "7"))
    assert r.returncode == 2 and "validation split" in r.stderr and "Traceback" not in r.stderr

    import keras

    from train.config import TrainConfig
    from train.inputs import prepare
    from train.recipes import get_recipe

    base = dict(
        task="emotion",
        data=[str(emotion_npz["train"])],
        output=str(tmp_path / "x"),
        arch="tiny",
        recipe=get_recipe("smoke"),
    )
    plain = prepare(TrainConfig(**base))
    taught = prepare(TrainConfig(**base, teachers=[str(teacher)], distill_weight=0.25))
    probs = keras.models.load_model(teacher / "model.keras").predict(plain.train.x, verbose=0)
    assert taught.train.target == pytest.approx(0.75 * plain.train.target + 0.25 * probs, abs=1e-5)
    assert taught.train.target != pytest.approx(plain.train.target, abs=1e-3)

    out = tmp_path / "student"
    r = run_train(*fit_args(emotion_npz["train"], out, 1, "--teacher", str(teacher)))
    assert r.returncode == 0, r.stderr
    card = json.loads((out / "model.card.json").read_text())
    (entry,) = card["training"]["distillation"]["teachers"]
    assert (
        entry["sha256"]
        == json.loads((teacher / "model.card.json").read_text())["files"]["model.keras"]["sha256"]
    )


@pytest.mark.slow
def test_fit_help_lists_every_model_recipe_and_label_source_the_docs_use():
    """README and Makefile name architectures and recipes; `fit --help` must offer each."""
    r = run_train("fit", "--help")
    assert r.returncode == 0, r.stderr
    offered = {}
    for flag in ("model", "recipe", "labels", "crop"):
        m = re.search(rf"--{flag} \{{([^}}]*)\}}", r.stdout)
        assert m, f"--{flag} lists no choices"
        offered[flag] = set(m.group(1).split(","))
    docs = ((ROOT / "README.md").read_text() + (ROOT / "Makefile").read_text()).replace("\\\n", " ")
    fits = [line for line in docs.splitlines() if re.search(r"-m train fit\b", line)]
    assert len(fits) >= 5
    for flag, names in offered.items():
        used = {n for line in fits for n in re.findall(rf"--{flag} ([a-z][a-z0-9_]+)", line)}
        assert used <= names, (flag, used - names)
    assert {"edge_vgg_slim", "edge_vgg_nano"} <= offered["model"]
    assert {"restart", "edge"} <= offered["recipe"]


@pytest.mark.slow
def test_an_age_run_learns_years_and_reports_its_errors_per_band(age_npz, tmp_path):
    """Age: year bins with Gaussian targets from a gender file's ages; the card says what the
    output means, the metrics are errors in years per band, and the report draws estimates
    against the truth. The age recipe's own 12 epochs: 5 smoke epochs (heavy augmentation,
    patience 3) left the tiny model at a near-constant guess on some CPUs (MAE 19.7 against
    1.8-4.3 with this recipe, seeds 0 and 1)."""
    age = tmp_path / "age"
    tiny_age = ("--model", "tiny", "--recipe", "age", "--batch-size", "16", "--threads", "1", "--quiet")
    data = ["--data", str(age_npz["train"]), "--eval", str(age_npz["val"]), *tiny_age]
    r = run_train("fit", "--task", "age", "--output", str(age), *data)
    assert r.returncode == 0, r.stderr
    card = json.loads((age / "model.card.json").read_text())
    assert card["output"]["kind"] == "expectation" and len(card["labels"]) == 101
    assert "within 5 years" in card["training"]["split"]["selection"]
    m = card["metrics"]["a_val"]
    # ages 10, 30, 50, 70 (+-2) told by where the disc is: a constant guess errs 20 years
    assert m["n"] == 120 and m["mae"] < 14, m
    assert set(m["mae_by_band"]) <= {"0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60+"}
    assert (age / "report" / "estimates_a_val.png").stat().st_size > 5000
    assert "mean absolute error" in (age / "report.md").read_text()
    r = run_train("evaluate", "--model", str(age / "model.keras"), "--data", str(age_npz["val"]))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[str(age_npz["val"])]["mae"] == pytest.approx(m["mae"], abs=1e-3)


@pytest.mark.slow
def test_an_age_run_may_start_from_another_tasks_layers(age_npz, tmp_path):
    data = ["--data", str(age_npz["train"]), "--no-report", "--limit", "300", "--size", "32", *TINY]
    gender = tmp_path / "gender"
    r = run_train("fit", "--task", "gender", "--epochs", "1", "--output", str(gender), *data)
    assert r.returncode == 0, r.stderr
    age = tmp_path / "age"
    r = run_train(
        "fit",
        "--task",
        "age",
        "--epochs",
        "1",
        "--output",
        str(age),
        "--init-backbone-from",
        str(gender),
        *data,
    )
    assert r.returncode == 0, r.stderr
    n = int(re.search(r"starting from the first (\d+) layers of", r.stdout).group(1))
    assert n >= 8  # the convolution stages; the head starts fresh
    src = json.loads((age / "model.card.json").read_text())["training"]["init_backbone_from"]
    assert src["task"] == "gender" and len(src["sha256"]) == 64


def test_an_age_task_needs_ages_in_its_data(emotion_npz, tmp_path):
    out = tmp_path / "x"
    r = run_train(
        "fit", "--task", "age", "--data", str(emotion_npz["train"]), "--output", str(out), "--model", "tiny"
    )
    assert r.returncode == 2 and "has no ages" in r.stderr and "Traceback" not in r.stderr
