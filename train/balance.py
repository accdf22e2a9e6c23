"""Decision boundaries moved after training, chosen on the validation split, folded into the bias.

Two classes: a gender model that misreads women as men more often than the reverse (the
reference demo's users' top complaint) is corrected by shifting the decision boundary until
both classes are recognised equally often on the validation split carved from the training
data (never on a reported test split).

More classes: the emotion data is imbalanced (FER+ crowd votes: neutral and happy carry over
half the mass, disgust and fear a few per cent), so a model trained on it under-calls the
rare classes, which users' photos hold in other shares. Post-hoc logit adjustment (Menon et
al., "Long-tail learning via logit adjustment", 2021) subtracts ``tau * log(prior)`` from
the logits, the prior being the training targets' class shares; ``tau`` (0: as trained, 1:
fully balanced) is the one with the best balanced accuracy on the carved validation split
among those that give up at most one point of its accuracy (``MAX_ACCURACY_COST``): the
rare classes are recognised far more often, and the common ones barely less. A model trained
with a logit-adjusted loss (``train fit --logit-adjust``) has part of the correction learnt:
the rule then counts ``tau`` in total, learnt plus post-hoc (the post-hoc part may be negative,
giving some of the prior back), with the accuracy floor measured at a total of 0, so where the
correction comes from does not change how far it goes.

Either offset is folded into the bias of the layer that feeds the softmax, so every exported
format inherits it with no extra operation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from runtime.card import card_path_for, file_entry, write_card
from runtime.metrics import balanced_accuracy
from train.config import TrainConfig
from train.evaluate import load_keras_model
from train.inputs import evaluate_arrays, prepare
from train.run_folder import save_model_atomic


def recalls(probs: np.ndarray, y: np.ndarray, shift: float) -> tuple[float, float]:
    d = np.log(np.clip(probs[:, 1], 1e-7, 1)) - np.log(np.clip(probs[:, 0], 1e-7, 1)) + shift
    pred = (d > 0).astype(int)
    return float((pred[y == 0] == 0).mean()), float((pred[y == 1] == 1).mean())


def equal_recall_shift(probs: np.ndarray, y: np.ndarray, span: float = 4.0, steps: int = 1601) -> float:
    """The logit offset for class 1 that brings the two recalls closest (smallest such offset)."""
    best_gap, best = np.inf, 0.0
    for s in sorted(np.linspace(-span, span, steps), key=abs):
        r0, r1 = recalls(probs, y, s)
        if abs(r0 - r1) < best_gap - 1e-12:
            best_gap, best = abs(r0 - r1), float(s)
    return best


def bias_layer(model):
    """The last layer before the softmax that has a bias (walking back through pooling)."""
    for layer in reversed(model.layers[:-1]):
        if getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
            return layer
    raise ValueError("model has no biased layer before its softmax")


TAUS = tuple(np.round(np.arange(0.0, 1.0001, 0.05), 2))
MAX_ACCURACY_COST = 0.01  # validation accuracy a many-class correction may give up for balance


def adjusted(probs: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """Predicted classes after subtracting ``tau * log(prior)`` from the log-probabilities."""
    return (np.log(np.clip(probs, 1e-7, 1)) - tau * np.log(prior)).argmax(1)


def prior_correction(
    probs: np.ndarray, y: np.ndarray, prior: np.ndarray, learnt: float = 0.0
) -> tuple[float, list[dict]]:
    """The post-hoc ``tau`` whose total with the ``learnt`` one is the ``TAUS`` value with the
    best balanced accuracy among those whose accuracy is at most ``MAX_ACCURACY_COST`` below
    that of a total of 0 (the smallest such), and every candidate's scores."""
    scores = []
    for total in TAUS:
        tau = round(float(total) - learnt, 4)
        pred = adjusted(probs, prior, tau)
        acc, bal = float((pred == y).mean()), balanced_accuracy(y, pred)
        scores.append({"tau": tau, "accuracy": round(acc, 5), "balanced_accuracy": round(bal, 5)})
    floor = scores[0]["accuracy"] - MAX_ACCURACY_COST
    allowed = [s for s in scores if s["accuracy"] >= floor - 1e-9]
    best = max(allowed, key=lambda s: (s["balanced_accuracy"], -s["tau"]))
    return best["tau"], scores


def _two_classes(model, card, p) -> tuple[dict, tuple]:
    """The equal-recall offset, applied; the calibration record and the validation scores after."""
    _, acc_before, probs = evaluate_arrays(model, p.val)
    before = recalls(probs, p.val.y, 0.0)
    shift = equal_recall_shift(probs, p.val.y)
    layer = bias_layer(model)
    bias = layer.bias.numpy()
    bias[..., 1] += shift
    layer.bias.assign(bias)
    scored = evaluate_arrays(model, p.val)
    after = recalls(scored[2], p.val.y, 0.0)
    previous = card.training.get("calibration", {}).get("logit_shift", 0.0)
    return {
        "rule": f"equal {card.labels[0]}/{card.labels[1]} recall on the validation split "
        "carved from the training data; offset folded into the last bias",
        "logit_shift": round(previous + shift, 4),
        "validation_recall_before": dict(zip(card.labels, np.round(before, 4).tolist())),
        "validation_recall_after": dict(zip(card.labels, np.round(after, 4).tolist())),
        "validation_accuracy_before": round(acc_before, 5),
    }, scored


def _many_classes(model, card, p, learnt: float) -> tuple[dict, tuple]:
    """The prior correction, applied; the calibration record and the validation scores after."""
    _, acc_before, probs = evaluate_arrays(model, p.val)
    prior = p.prior
    tau, scores = prior_correction(probs, p.val.y, prior, learnt)
    layer = bias_layer(model)
    layer.bias.assign(layer.bias.numpy() - (tau * np.log(prior)).astype(np.float32))
    scored = evaluate_arrays(model, p.val)
    if not np.array_equal(scored[2].argmax(1), adjusted(probs, prior, tau)):
        raise RuntimeError("folding the prior correction into the bias changed other answers")
    return {
        "rule": "logit adjustment: tau * log(training prior) subtracted from the logits, tau (with "
        "any learnt in training, in total) with the best balanced accuracy at most "
        f"{100 * MAX_ACCURACY_COST:g} point of accuracy below a total of 0 on the validation "
        "split carved from the training data; offset folded into the last bias",
        "tau": tau,
        **({"learnt_tau": learnt, "total_tau": round(learnt + tau, 4)} if learnt else {}),
        "prior": dict(zip(card.labels, np.round(prior, 5).tolist())),
        "logit_shift": dict(zip(card.labels, np.round(-tau * np.log(prior), 4).tolist())),
        "validation_scores": scores,
        "validation_accuracy_before": round(acc_before, 5),
    }, scored


def balance(model_path: Path) -> dict:
    """Move the model's decision boundaries as the module says, on its validation split;
    rewrite the model and update its card."""
    model_path = Path(model_path)
    model, card = load_keras_model(model_path)
    if len(card.labels) > 2 and "calibration" in card.training:
        # Once only: a second correction would subtract the prior again. Rerunning a finished
        # `make train-emotion` reaches here, so it is a no-op, not an error.
        print(f"{card.name} is already balanced; left as it is", file=sys.stderr)
        return card.training["calibration"]
    cfg = TrainConfig.load(model_path.parent / "config.json")
    p = prepare(cfg)
    if len(card.labels) == 2:
        calibration, (loss, acc_after, _) = _two_classes(model, card, p)
    else:
        calibration, (loss, acc_after, _) = _many_classes(model, card, p, cfg.logit_adjust)
    save_model_atomic(model, model_path)
    card.training["calibration"] = calibration
    card.metrics["validation"] = {
        "accuracy": round(acc_after, 5),
        "loss": round(loss, 5),
        "n": int(len(p.val.y)),
    }
    card.files[model_path.name] = file_entry(model_path, "keras", "float32")
    write_card(card, card_path_for(model_path))
    return card.training["calibration"]
