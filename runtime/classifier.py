"""A task's classifier at the edge: an exported file, its card, and one batched call per frame.

The card beside the file decides everything about the input (crop rule, size, colour,
normalisation) and the meaning of the output (labels); the file's checksum must be the
one the card records, and an ONNX file's embedded card must agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .backends import Classifier, OnnxClassifier, open_classifier
from .card import (
    ONNX_CARD_KEY,
    CardError,
    ModelCard,
    card_from_json,
    read_card,
    verify_file,
)
from .geometry import Box
from .model_folder import card_path
from .outputs import OutputKind
from .preprocess import ChannelOrder, InputSpec, prepare_face


def _embedded_card(engine: Classifier) -> ModelCard | None:
    if not isinstance(engine, OnnxClassifier):
        return None
    meta = engine.session.get_modelmeta().custom_metadata_map
    if ONNX_CARD_KEY not in meta:
        return None
    return card_from_json(meta[ONNX_CARD_KEY], f"{engine.path.name} metadata")


@dataclass
class FaceClassifier:
    card: ModelCard
    engine: Classifier
    max_faces: int = 16
    _buffer: np.ndarray | None = None
    spec: InputSpec | None = None  # the card's input, with the crop rule of the detector in use
    _specs: dict[str, InputSpec] = field(default_factory=dict)  # detector name -> input spec

    def __post_init__(self) -> None:
        if self.spec is None:
            self.spec = self.card.input

    def spec_for(self, detector: str) -> InputSpec:
        """The input with the crop rule measured for ``detector``'s boxes (refused in one line
        when a calibrated card has none)."""
        if detector not in self._specs:
            self._specs[detector] = replace(self.card.input, crop=self.card.crop_for(detector))
        return self._specs[detector]

    @property
    def task(self) -> str:
        return self.card.task

    @property
    def labels(self) -> list[str]:
        return self.card.labels

    @property
    def kind(self) -> OutputKind:
        return self.card.kind

    @classmethod
    def open(
        cls, path: Path, threads: int = 1, max_faces: int = 16, detectors: tuple[str, ...] = ("short",)
    ) -> FaceClassifier:
        """The exported model at ``path``, checked against its card, cropping faces by the
        rule its card measured for each detector's boxes (the first is the default)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"model file {path} not found; run 'make export' or pass --<task>-model PATH"
            )
        card = read_card(card_path(path))
        verify_file(card, path)
        engine = open_classifier(path, threads)
        if tuple(engine.input_shape) != tuple(card.input.shape):
            raise CardError(
                f"{path.name} takes input {tuple(engine.input_shape)} but its card says "
                f"{card.input.shape}; re-export the model"
            )
        inside = _embedded_card(engine)
        if inside is not None and (inside.labels != card.labels or inside.input != card.input):
            raise CardError(
                f"{path.name}: the card beside it does not match the card inside it "
                f"(labels or input); re-export the model"
            )
        clf = cls(card, engine, max_faces)
        for name in detectors:  # every rule the run will need, checked before the first frame
            clf.spec_for(name)
        clf.spec = clf.spec_for(detectors[0])
        return clf

    def prepare(
        self,
        frame: np.ndarray,
        boxes: list[Box],
        order: ChannelOrder = "bgr",
        rolls: list[float] | None = None,
        sources: list[str] | None = None,
    ) -> np.ndarray:
        """The model inputs of every face, written into a buffer reused across frames;
        ``rolls`` (degrees per face) turn tilted faces upright; ``sources`` (the detector of
        each box) choose each face's crop rule (default: the first detector's)."""
        n = len(boxes)
        spec = self.spec or self.card.input
        if self._buffer is None or len(self._buffer) < n:
            self._buffer = np.empty((max(n, self.max_faces), *spec.shape), np.float32)
        for i, box in enumerate(boxes):
            face_spec = self.spec_for(sources[i]) if sources and sources[i] else spec
            roll = rolls[i] if rolls else 0.0
            prepare_face(frame, box, face_spec, order, out=self._buffer[i], roll=roll)
        return self._buffer[:n]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Outputs (N, labels) of a prepared batch in one engine call, cleaned up as the
        card's output kind says (softmax: a distribution per face)."""
        if len(batch) == 0:
            return np.empty((0, len(self.labels)), np.float32)
        return self.kind.clean(self.engine.predict(batch))

    def predict(
        self,
        frame: np.ndarray,
        boxes: list[Box],
        order: ChannelOrder = "bgr",
        rolls: list[float] | None = None,
    ) -> np.ndarray:
        """Probabilities (len(boxes), classes) of every face of the frame."""
        return self.infer(self.prepare(frame, boxes, order, rolls))
