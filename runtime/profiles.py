"""Named sets of runtime settings for a kind of machine (``--profile``); explicit flags win.

``pi`` runs the nano tier (at most 25 M multiply-adds per face and model, about a fifth of
the accurate tier's), which a Raspberry Pi's Cortex-A cores can classify on every frame.

``pi``: a Raspberry Pi 4 or 5 (4 Cortex-A cores). TFLite int8 runs XNNPACK's ARM int8
kernels, the most tuned path there (on this x86 machine it is already the fastest per face:
0.63 ms against 0.70 for ONNX int8 and 1.65 for ONNX float). Two classifier threads leave
the other cores to the detector and the camera thread. Detecting every 2nd frame (optical
flow in between) cuts the detector's share of the work while boxes stay within 0.98 IoU of
detecting every frame (benchmarks/stride.py). Classification is not strided by the
profile: like every live source it classifies every frame while the Pi keeps up with
the camera, and strides only as much as its frame budget needs (runtime/stride.py).
"""

from __future__ import annotations

from .model_folder import TIERS as TIERS  # shipped.json's tiers; re-exported here

PROFILES: dict[str, dict[str, object]] = {
    "pi": {
        "tier": "nano",
        "backend": "tflite",
        "precision": "int8",
        "threads": 2,
        "detect_every": 2,
        "detector": "short",
    },
    "laptop": {
        "tier": "accurate",
        "backend": "onnx",
        "precision": "int8",
        "threads": 1,
        "detect_every": 1,
        "detector": "short",
    },
}
