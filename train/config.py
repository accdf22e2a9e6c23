"""The resolved configuration of one training run, saved beside its output."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from runtime.card import AGE_LABELS, EMOTION_LABELS, GENDER_LABELS
from runtime.preprocess import CropRule, InputSpec, Normalization
from train.recipes import Recipe, get_recipe, recipe_from_dict

# Each task we train: its labels and the input its models take by default, and the framing of
# the data they learn from. A new task (age) is a new entry here and its dataset loader.
TASK_PRESETS: dict[str, dict] = {
    "emotion": {"labels": EMOTION_LABELS, "height": 48, "width": 48, "colour": "gray", "crop": "fer2013"},
    "gender": {"labels": GENDER_LABELS, "height": 64, "width": 64, "colour": "rgb", "crop": "utkface"},
    # Age learns from the gender sources' faces (their ages): the same chips and framing.
    # Its targets are distributions over the year bins (train/datasets/age.py) and its
    # output their expected value, shown with a band (runtime/outputs.py, Expectation).
    "age": {
        "labels": AGE_LABELS,
        "height": 64,
        "width": 64,
        "colour": "rgb",
        "crop": "utkface",
        "soft_targets": True,
        "output": {
            "kind": "expectation",
            "unit": "years",
            "format": "~{value:.0f} y",
            "bands": [
                [12, "0-12"],
                [19, "13-19"],
                [29, "20-29"],
                [39, "30-39"],
                [49, "40-49"],
                [59, "50-59"],
            ],
            "last_band": "60+",
            "within": 5,
        },
    },
}


def task_output(task: str) -> dict:
    """What a task's models output (the card's ``output``): softmax unless its preset says."""
    return dict(TASK_PRESETS[task].get("output", {"kind": "softmax"}))


def task_labels(task: str | None, default: str = "emotion") -> tuple[str, ...]:
    """The label names of a task we train (a file that names none of its own gets these)."""
    name = task or default
    if name not in TASK_PRESETS:
        raise ValueError(f"no labels known for task {name!r}; choose {', '.join(TASK_PRESETS)}")
    return tuple(TASK_PRESETS[name]["labels"])


LABEL_SOURCES = ("fer", "ferplus_majority", "ferplus_soft", "fer_ferplus_mix")
# Label sources whose training target is a distribution rather than one class.
SOFT_LABEL_SOURCES = ("ferplus_soft", "fer_ferplus_mix")

# How the training images frame a face, relative to a detector box. A first
# estimate from how each dataset was cropped; the runtime issue calibrates them
# by running the detector on training images and records the result in the card.
DATASET_CROPS: dict[str, CropRule] = {
    "fer2013": CropRule(
        scale_x=1.0,
        scale_y=1.0,
        shift_y=0.0,
        square=True,
        framing="FER2013: face registered to fill the 48x48 image, little margin",
    ),
    "utkface": CropRule(
        scale_x=1.0,
        scale_y=1.0,
        shift_y=0.0,
        square=True,
        framing="UTKFace aligned chip: whole face, tight, little background",
    ),
    "imdb_wiki": CropRule(
        scale_x=1.8,
        scale_y=1.8,
        shift_y=0.0,
        square=True,
        framing="IMDB-WIKI crop: face with about 40 % margin on each side",
    ),
    "generic": CropRule(framing="detector box as is"),
}


@dataclass
class TrainConfig:
    task: str  # a key of TASK_PRESETS
    data: list[str]  # training split files or folders
    output: str  # run folder: checkpoints, logs, final model and card
    arch: str = "edge_vgg"
    recipe: Recipe = field(default_factory=lambda: get_recipe("edge"))
    height: int = 48
    width: int = 48
    colour: str = "gray"
    normalization: Normalization = field(default_factory=Normalization.minus_one_to_one)
    crop: str = "fer2013"  # key of DATASET_CROPS
    data_format: str = "auto"
    labels: str = "fer"  # for FER data: one of LABEL_SOURCES
    eval_data: list[str] = field(default_factory=list)  # reported splits, never used for selection
    seed: int = 1
    limit: int | None = None  # use only the first N training images (tests, quick looks)
    init_from: str | None = None  # warm start: a trained model.keras of the same shape and split
    # Transfer: the layers of another task's trained model, up to the first whose weights
    # differ in shape (the head always starts fresh). Its card is recorded; its validation
    # rows were carved for its own task, so they may be among this run's.
    init_backbone_from: str | None = None
    # Knowledge distillation: the training targets become (1 - w) * labels + w * the mean
    # probabilities of these trained models (same input, labels and carved split).
    teachers: list[str] = field(default_factory=list)
    distill_weight: float = 0.5
    # Weight of each --data source's faces in the loss (one per source, in order; empty: all
    # 1), e.g. to let a small in-the-wild source count beside a large lab one.
    source_weights: list[float] = field(default_factory=list)
    # Train on the int8 ONNX export's 7-bit weight grid and ship snapped weights
    # (train.quant_aware): for narrow models whose int8 file otherwise disagrees too often.
    quantization_aware: bool = False
    # Logit-adjusted loss (train.losses): the loss sees the logits plus tau * log(training
    # prior), so the model learns the prior-corrected boundary that `train balance` would
    # otherwise set after training. 0: plain cross-entropy.
    logit_adjust: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASK_PRESETS:
            raise ValueError(f"task must be one of {', '.join(TASK_PRESETS)}, not {self.task!r}")
        if self.labels not in LABEL_SOURCES:
            raise ValueError(f"labels must be one of {', '.join(LABEL_SOURCES)}")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be within 0..1, not {self.distill_weight}")
        if any(w <= 0 for w in self.source_weights):
            raise ValueError(f"source weights must be positive, not {self.source_weights}")
        if not 0.0 <= self.recipe.label_smoothing < 1.0:
            raise ValueError(
                f"label smoothing must be within 0..1 (below 1), not {self.recipe.label_smoothing}"
            )
        if not 0.0 <= self.logit_adjust <= 1.0:
            raise ValueError(f"logit_adjust must be within 0..1, not {self.logit_adjust}")
        if self.crop not in DATASET_CROPS:
            raise ValueError(f"crop must be one of {', '.join(DATASET_CROPS)}")
        if self.init_from and self.init_backbone_from:
            raise ValueError("give --init-from (continue a model) or --init-backbone-from, not both")
        if not self.name:
            self.name = f"{self.task}_{self.arch}"

    @property
    def label_names(self) -> list[str]:
        return list(TASK_PRESETS[self.task]["labels"])

    @property
    def output_spec(self) -> dict:
        """What the run's model outputs (the card's ``output``)."""
        return task_output(self.task)

    @property
    def soft_targets(self) -> bool:
        """Whether the run learns from distributions (FER+ votes; age) rather than one class."""
        return self.labels in SOFT_LABEL_SOURCES or bool(TASK_PRESETS[self.task].get("soft_targets"))

    @property
    def input_spec(self) -> InputSpec:
        channels = 1 if self.colour == "gray" else 3
        return InputSpec(
            self.height,
            self.width,
            channels,
            self.colour,  # type: ignore[arg-type]
            self.normalization,
            DATASET_CROPS[self.crop],
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["recipe"] = recipe_from_dict(d["recipe"])
        d["normalization"] = Normalization(**d["normalization"])
        d.setdefault("teachers", [])  # runs saved before distillation existed
        d.setdefault("distill_weight", 0.5)
        d.setdefault("source_weights", [])
        d.setdefault("init_backbone_from", None)
        d.setdefault("quantization_aware", False)
        d.setdefault("logit_adjust", 0.0)
        return cls(**d)

    def save(self, path: Path) -> None:
        from runtime.card import atomic_write_bytes

        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))
