"""The training loss: cross-entropy, optionally logit-adjusted for the training prior.

Logit-adjusted loss (Menon et al., "Long-tail learning via logit adjustment", 2021): the
loss sees the model's logits plus ``tau * log(prior)``, so the model itself learns logits
whose argmax is corrected for an imbalanced training prior, with its margins drawn at that
boundary. ``train balance`` makes the same correction after training by moving the last
bias, and counts a learnt ``tau`` in its total (docs/design.md, "Logit adjustment for
emotion"). The model still ends in a plain softmax: nothing changes for the exports.
"""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def _loss_class():
    """The Keras loss class, built on first use (Keras is imported only once TensorFlow's
    threads are set, ``train.loop.configure_threads``)."""
    import keras

    class LogitAdjustedCrossentropy(keras.losses.Loss):
        """Cross-entropy of the targets against softmax(log p + shift), p the model's softmax."""

        def __init__(
            self, shift, label_smoothing: float = 0.0, name: str = "logit_adjusted_crossentropy", **kw
        ):
            super().__init__(name=name, **kw)
            self.shift = [float(s) for s in shift]
            self.label_smoothing = float(label_smoothing)

        def call(self, y_true, y_pred):
            ops = keras.ops
            logits = ops.log(ops.clip(y_pred, 1e-7, 1.0)) + ops.convert_to_tensor(self.shift, y_pred.dtype)
            y = ops.cast(y_true, y_pred.dtype)
            if self.label_smoothing:
                y = y * (1.0 - self.label_smoothing) + self.label_smoothing / len(self.shift)
            return -ops.sum(y * ops.log_softmax(logits, axis=-1), axis=-1)

        def get_config(self) -> dict:
            return {**super().get_config(), "shift": self.shift, "label_smoothing": self.label_smoothing}

    return LogitAdjustedCrossentropy


def training_loss(label_smoothing: float, prior: np.ndarray | None = None, tau: float = 0.0):
    """The run's loss: plain cross-entropy, or logit-adjusted by ``tau * log(prior)``."""
    import keras

    if not tau:
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    if prior is None:
        raise ValueError("a logit-adjusted loss needs the training prior")
    shift = tau * np.log(np.clip(np.asarray(prior, np.float64), 1e-12, 1.0))
    return _loss_class()(shift.tolist(), label_smoothing)


def custom_objects() -> dict:
    """What ``keras.models.load_model`` needs to resume a run compiled with ``training_loss``."""
    cls = _loss_class()
    return {cls.__name__: cls}
