"""Equal recall for two-class models: one logit offset, chosen on the validation split.

A gender model that misreads women as men more often than the reverse (the reference
demo's users' top complaint) is corrected by shifting the decision boundary until both
classes are recognised equally often on the validation split carved from the training
data (never on a reported test split). The offset is folded into the bias of the layer
that feeds the softmax, so every exported format inherits it with no extra operation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.card import card_path_for, file_entry, write_card
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


def balance(model_path: Path) -> dict:
    """Shift the model's class-1 logit for equal recall on its validation split; update its card."""
    model_path = Path(model_path)
    model, card = load_keras_model(model_path)
    if len(card.labels) != 2:
        raise ValueError(f"balance works on two-class models; {card.name} has {len(card.labels)}")
    cfg = TrainConfig.load(model_path.parent / "config.json")
    p = prepare(cfg)
    _, acc_before, probs = evaluate_arrays(model, p.val)
    before = recalls(probs, p.val.y, 0.0)
    shift = equal_recall_shift(probs, p.val.y)
    layer = bias_layer(model)
    bias = layer.bias.numpy()
    bias[..., 1] += shift
    layer.bias.assign(bias)
    loss, acc_after, probs_after = evaluate_arrays(model, p.val)
    after = recalls(probs_after, p.val.y, 0.0)
    save_model_atomic(model, model_path)
    previous = card.training.get("calibration", {}).get("logit_shift", 0.0)
    card.training["calibration"] = {
        "rule": f"equal {card.labels[0]}/{card.labels[1]} recall on the validation split "
        "carved from the training data; offset folded into the last bias",
        "logit_shift": round(previous + shift, 4),
        "validation_recall_before": dict(zip(card.labels, np.round(before, 4).tolist())),
        "validation_recall_after": dict(zip(card.labels, np.round(after, 4).tolist())),
        "validation_accuracy_before": round(acc_before, 5),
    }
    card.metrics["validation"] = {
        "accuracy": round(acc_after, 5),
        "loss": round(loss, 5),
        "n": int(len(p.val.y)),
    }
    card.files[model_path.name] = file_entry(model_path, "keras", "float32")
    write_card(card, card_path_for(model_path))
    return card.training["calibration"]
