"""Quantization-aware training for the int8 ONNX export's 7-bit weights (``export.quantize``).

The ONNX int8 recipe stores each convolution's and the first dense layer's weights as
integers in [-64, 64] times one scale per output channel (7 bits, so AVX2-only CPUs
cannot saturate). A narrow network loses some of its close calls to that rounding.
Training on the rounded weights removes that part of the loss at the source:

* every training batch runs forward on the weights snapped to the grid, and the gradient
  is applied to the float weights kept behind them (the straight-through estimator), so
  updates smaller than one grid step still add up;
* the model a run ships is snapped, so its weights already lie on the grid and the
  export's rounding changes none of them (the activations are still rounded there).

Snapping per output channel commutes with folding a BatchNormalization into the layer
before it (folding scales each output channel by one number, and the symmetric grid scales
with it), so snapping the Keras kernel is snapping the exported one. The layers snapped are
those the recipe quantizes: every convolution but the first and every dense layer but the
last (both stay float, ``Int8Recipe``). Checkpoints keep the float weights, so a paused run
resumes from them as a plain run does.

Measured (docs/results.md, issue L): the nano emotion model continued on FER+ and ExpW
agreed with its int8 ONNX file on 99.60 % of FER2013 PublicTest instead of 99.19 %, and on
98.36 % of ExpW val instead of 98.10 % (means of three calibration draws). Rounding the
activations too while training did not help (98.10 %).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

# onnxruntime's symmetric int8 range with reduce_range: [-64, 64], scale = max |w| / 64.
LEVELS = 64


def snap(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` rounded to the grid of LEVELS steps per sign, one scale per output
    channel (the last axis, for Conv2D and Dense kernels alike). Idempotent: the largest
    weight of each channel stays where it is, so the scale does too."""
    axes = tuple(range(kernel.ndim - 1))
    scale = np.abs(kernel).max(axis=axes, keepdims=True) / LEVELS
    safe = np.where(scale > 0, scale, 1.0)
    return (np.round(kernel / safe) * safe).astype(kernel.dtype)


def grid_layers(model) -> list:
    """The layers whose kernels the int8 ONNX recipe quantizes (see the module docstring)."""
    import keras

    convs = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)]
    dense = [la for la in model.layers if isinstance(la, keras.layers.Dense)]
    return convs[1:] + dense[:-1]


@dataclass
class WeightGrid:
    """Snaps and restores the kernels of one model's grid layers."""

    layers: list

    @classmethod
    def of(cls, model) -> WeightGrid:
        return cls(grid_layers(model))

    def snap(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Put every grid kernel on the grid; returns each one's (float, snapped) pair, so
        ``restore`` and ``put_back`` need not round again (they run around every batch)."""
        pairs = []
        for layer in self.layers:
            w = layer.kernel.numpy()
            s = snap(w)
            pairs.append((w, s))
            layer.kernel.assign(s)
        return pairs

    def restore(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """After an optimizer step taken on snapped kernels: move the float kernels by the
        same step (kernel += float - snapped), the straight-through estimator."""
        for layer, (w, s) in zip(self.layers, pairs):
            layer.kernel.assign(layer.kernel.numpy() + (w - s))

    def put_back(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Undo ``snap`` exactly (no step was taken in between)."""
        for layer, (w, _) in zip(self.layers, pairs):
            layer.kernel.assign(w)

    @contextmanager
    def snapped(self):
        """Within: the kernels are on the grid (what the run would ship)."""
        pairs = self.snap()
        try:
            yield
        finally:
            self.put_back(pairs)

    def on_grid(self, atol: float = 1e-6) -> bool:
        """True when every grid kernel already lies on the grid."""
        kernels = (la.kernel.numpy() for la in self.layers)
        return all(np.allclose(k, snap(k), atol=atol) for k in kernels)
