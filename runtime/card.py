"""Model cards: the JSON that travels with every model file and describes it completely.

A consumer never guesses labels, input size, colour, normalisation or crop: it
reads them here. Cards are plain JSON (no pickle, no eval), validated on load,
and written atomically so an interrupted write never leaves half a card.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .outputs import OutputKind, output_kind
from .preprocess import CropRule, InputSpec

CARD_VERSION = 1
# The label vocabularies of the tasks we train; a card may name any task (the runtime takes
# its tasks from the shipped index and the cards: runtime/model_folder.py).
EMOTION_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
GENDER_LABELS = ("woman", "man")
# Age: one bin per year, 0 to 100 (older ages fall into the last); the estimate is the
# expected value of the distribution over them (runtime/outputs.py, Expectation).
AGE_LABELS = tuple(str(a) for a in range(101))
ONNX_CARD_KEY = "model_card"  # metadata_props key holding the card JSON inside an .onnx file


class CardError(ValueError):
    """A model card is missing, malformed, or does not match its model file."""


@dataclass
class FileEntry:
    """One file the card describes, with the checksum a consumer verifies before use."""

    format: str  # keras | onnx | tflite
    precision: str  # float32 | float16 | int8
    sha256: str
    size: int
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. int8 input scale/zero point


@dataclass
class ModelCard:
    name: str
    task: str
    labels: list[str]
    input: InputSpec
    architecture: dict[str, Any] = field(default_factory=dict)  # name, params, macs
    training: dict[str, Any] = field(default_factory=dict)  # data, split, recipe, command, epochs, time
    metrics: dict[str, Any] = field(default_factory=dict)  # split name -> figures
    files: dict[str, FileEntry] = field(default_factory=dict)  # file name -> entry
    export: dict[str, Any] = field(default_factory=dict)  # source, tools, calibration, checks
    # What the output means: {"kind": "softmax"} (probabilities over ``labels``) or
    # {"kind": "regression", "unit": "years"} (one value per label); runtime/outputs.py.
    output: dict[str, Any] = field(default_factory=lambda: {"kind": "softmax"})
    # Crop rules measured against each detector's boxes (detector name -> rule), by
    # export.calibrate_crop; ``input.crop`` is the default detector's (short) rule.
    crops: dict[str, CropRule] = field(default_factory=dict)
    card_version: int = CARD_VERSION

    def __post_init__(self) -> None:
        if not self.task.isidentifier():
            raise CardError(f"task {self.task!r} must be a name such as emotion, gender or age")
        try:
            kind = output_kind(self.output)
        except ValueError as e:
            raise CardError(f"card of {self.name}: {e}") from e
        most = kind.max_labels or len(self.labels)
        if not kind.min_labels <= len(self.labels) <= most or len(set(self.labels)) != len(self.labels):
            many = f"{kind.min_labels} or more" if kind.max_labels is None else f"{kind.max_labels}"
            raise CardError(
                f"labels must be {many} distinct name(s) for a {kind.name} output, got {self.labels}"
            )

    @property
    def kind(self) -> OutputKind:
        """What the model's output means (runtime/outputs.py)."""
        return output_kind(self.output)

    def crop_for(self, detector: str) -> CropRule:
        """The crop rule measured against ``detector``'s boxes. An uncalibrated card's rule is a
        guess for any detector and is used as is; a calibrated card without a rule for this
        detector is refused: its rule would cut the face where that detector's boxes are not."""
        if detector in self.crops:
            return self.crops[detector]
        measured = self.training.get("crop_calibration", {}).get("detector", "blazeface_short")
        if not self.input.crop.calibrated or measured == f"blazeface_{detector}":
            return self.input.crop
        known = sorted({*self.crops, measured.removeprefix("blazeface_")})
        raise CardError(
            f"{self.name} has no crop rule measured for the {detector!r} detector (only "
            f"{', '.join(known)}); run 'python -m export.calibrate_crop --model <its folder> "
            f"--detector {detector}' or choose --detector {known[0]}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input"] = self.input.to_dict()
        if not self.crops:
            del d["crops"]  # cards written before per-detector rules stay byte-identical
        if self.output == {"kind": "softmax"}:
            del d["output"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CardError(f"unknown card key(s): {', '.join(unknown)}")
        missing = sorted({"name", "task", "labels", "input"} - set(d))
        if missing:
            raise CardError(f"card lacks required key(s): {', '.join(missing)}")
        if d.get("card_version", CARD_VERSION) > CARD_VERSION:
            raise CardError(
                f"card version {d['card_version']} is newer than this code "
                f"understands ({CARD_VERSION}); update the project"
            )
        try:
            spec = InputSpec.from_dict(d["input"])
            files = {k: FileEntry(**v) for k, v in d.get("files", {}).items()}
            crops = {k: CropRule(**v) for k, v in d.get("crops", {}).items()}
        except (KeyError, TypeError, ValueError) as e:
            raise CardError(f"card input or files section is malformed: {e}") from e
        return cls(
            name=d["name"],
            task=d["task"],
            labels=list(d["labels"]),
            input=spec,
            architecture=d.get("architecture", {}),
            training=d.get("training", {}),
            metrics=d.get("metrics", {}),
            files=files,
            export=d.get("export", {}),
            output=d.get("output", {"kind": "softmax"}),
            crops=crops,
            card_version=d.get("card_version", CARD_VERSION),
        )


def card_path_for(model_path: Path) -> Path:
    """The card beside a model file: ``x.keras`` -> ``x.card.json`` (the training card);
    an export keeps its whole name, ``x.int8.onnx`` -> ``x.int8.onnx.card.json``, since
    several formats and precisions share one folder."""
    model_path = Path(model_path)
    if model_path.suffix == ".keras":
        return model_path.with_name(model_path.name.split(".")[0] + ".card.json")
    return model_path.with_name(model_path.name + ".card.json")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_card(card: ModelCard, path: Path) -> None:
    atomic_write_bytes(path, card_to_json(card).encode())


def read_card(path: Path) -> ModelCard:
    path = Path(path)
    if not path.is_file():
        raise CardError(f"model card {path} not found; every model needs its .card.json beside it")
    try:
        return card_from_json(path.read_bytes(), str(path))
    except UnicodeDecodeError as e:
        raise CardError(f"model card {path} is not valid JSON ({e}); regenerate it") from e


def card_to_json(card: ModelCard) -> str:
    return json.dumps(card.to_dict(), indent=2) + "\n"


def card_from_json(text: str | bytes, where: str = "model card") -> ModelCard:
    """Parse a card from JSON text (a .card.json file or an ONNX file's metadata)."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise CardError(f"{where} is not valid JSON ({e}); regenerate it") from e
    if not isinstance(d, dict):
        raise CardError(f"{where} must hold a JSON object")
    return ModelCard.from_dict(d)


def file_entry(path: Path, fmt: str, precision: str, **extra: Any) -> FileEntry:
    return FileEntry(
        format=fmt, precision=precision, sha256=sha256_of(path), size=path.stat().st_size, extra=dict(extra)
    )


def verify_file(card: ModelCard, path: Path) -> None:
    """Refuse a model file whose checksum is not the one its card records."""
    entry = card.files.get(Path(path).name)
    if entry is None:
        raise CardError(f"{path.name} is not listed in the card of {card.name}; re-export it")
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise CardError(
            f"{path} does not match its card (sha256 {actual[:12]}… != "
            f"{entry.sha256[:12]}…); the file is corrupt or was replaced: re-export it"
        )
