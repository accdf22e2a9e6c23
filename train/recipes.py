"""Named training recipes; the resolved recipe is saved with every model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class Augment:
    """Random geometric and photometric jitter, applied on the fly to training batches only."""

    rotation_deg: float = 0.0
    zoom: float = 0.0  # scale drawn from [1 - zoom, 1 + zoom]
    shift: float = 0.0  # fraction of the image side
    flip: bool = False
    brightness: float = 0.0  # added, in normalised units
    contrast: float = 0.0  # multiplied around the image mean, from [1 - c, 1 + c]
    erase: float = 0.0  # probability of blanking one random rectangle (random erasing)


@dataclass(frozen=True)
class Recipe:
    name: str
    batch_size: int = 64
    optimizer: str = "nadam"  # nadam | adamw
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "plateau"  # plateau (divide by 10 after patience/4 flat epochs) | cosine
    warmup_epochs: int = 0
    epochs: int = 100
    patience: int = 50  # early stopping on validation loss
    label_smoothing: float = 0.0
    class_weight_power: float = 0.0  # class weight = (largest class / this class) ** power
    val_fraction: float = 0.2  # carved from the training split, stratified
    augment: Augment = field(default_factory=Augment)

    def to_dict(self) -> dict:
        return asdict(self)


EDGE = Recipe(
    name="edge",
    batch_size=64,
    optimizer="adamw",
    learning_rate=2e-3,
    weight_decay=0.05,
    schedule="cosine",
    warmup_epochs=2,
    epochs=40,
    patience=40,
    label_smoothing=0.1,
    class_weight_power=0.3,
    val_fraction=0.1,
    augment=Augment(
        rotation_deg=12, zoom=0.12, shift=0.1, flip=True, brightness=0.15, contrast=0.25, erase=0.5
    ),
)

RECIPES: dict[str, Recipe] = {
    # The seed project's recipe (oarriaga/face_classification as its users ran it):
    # Nadam 1e-3, batch 64, plateau LR drops, early stopping on validation loss,
    # ImageDataGenerator(rotation 10, shifts 0.1, zoom 0.1, horizontal flip).
    "seed": Recipe(
        name="seed",
        batch_size=64,
        optimizer="nadam",
        learning_rate=1e-3,
        schedule="plateau",
        epochs=100,
        patience=50,
        val_fraction=0.2,
        augment=Augment(rotation_deg=10, zoom=0.1, shift=0.1, flip=True),
    ),
    # Ours: AdamW with warm-up and cosine decay (no plateau guessing, resumable from the
    # step count alone), label smoothing against FER2013's label noise, random erasing,
    # mild class weights for the 436-image disgust class without wrecking overall accuracy.
    "edge": EDGE,
    # A second, shorter cosine cycle from a trained model (a warm restart, as in SGDR):
    # same regularisation, a third of the peak rate, so the run leaves the first cycle's
    # minimum without forgetting it. Used with --init-from.
    "restart": replace(EDGE, name="restart", learning_rate=6e-4, warmup_epochs=1, epochs=20, patience=20),
    # Age from another task's backbone (--init-backbone-from): a short cosine cycle with no
    # label smoothing and no class weights, both of which would pull every expected value
    # towards the middle of the 0-100 range.
    "age": replace(
        EDGE,
        name="age",
        learning_rate=1e-3,
        warmup_epochs=1,
        epochs=12,
        patience=12,
        label_smoothing=0.0,
        class_weight_power=0.0,
    ),
    # A few epochs on a few hundred images: the test suite's end-to-end run.
    "smoke": Recipe(
        name="smoke",
        batch_size=16,
        optimizer="adamw",
        learning_rate=3e-3,
        schedule="cosine",
        epochs=3,
        patience=3,
        val_fraction=0.25,
        augment=Augment(rotation_deg=10, zoom=0.1, shift=0.1, flip=True, erase=0.5),
    ),
}


def get_recipe(name: str, **overrides: object) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    clean = {k: v for k, v in overrides.items() if v is not None}
    return replace(RECIPES[name], **clean)


def recipe_from_dict(d: dict) -> Recipe:
    d = dict(d)
    d["augment"] = Augment(**d.get("augment", {}))
    return Recipe(**d)
