"""Trained models a run builds on (``--init-from``, ``--teacher``): read, verified, checked once.

Each must have been selected on the very same carved validation split as this run:
otherwise its weights (or a teacher's targets) carry what it learnt from this run's
validation faces, and the selection would flatter the result. The split is compared by
its rule and data and, where the source's card records one, by its fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.card import ModelCard, card_path_for, read_card, verify_file
from runtime.model_folder import keras_path
from train.config import TrainConfig
from train.data import SPLIT_FINGERPRINT, Split, source_keys, validation_rule


@dataclass(frozen=True)
class SourceModel:
    """A trained model.keras with its card, its checksum verified against the card."""

    path: Path
    card: ModelCard
    sha256: str


def open_source(name: str, flag: str) -> SourceModel:
    path = Path(name)
    path = keras_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{flag} {path}: no such model; give a trained model.keras")
    card = read_card(card_path_for(path))
    verify_file(card, path)
    return SourceModel(path, card, card.files[path.name].sha256)


def split_problem(card: ModelCard, cfg: TrainConfig, split: Split, hint: str) -> str | None:
    """Why ``card``'s model was not selected on this run's carved split, or None.

    A model trained on the first k of this run's sources qualifies too: each source is carved
    on its own, so its validation rows are this run's validation rows of those sources."""
    t = card.training
    record = t.get("split", {})
    theirs, mine_keys = source_keys(list(t.get("data") or [])), source_keys(cfg.data)
    k = len(theirs)
    same_sources = k > 0 and theirs == mine_keys[:k]
    if not same_sources or record.get("validation_rule") != validation_rule(
        cfg.recipe.val_fraction, cfg.seed, k
    ):
        return f"training data or validation split ({hint})"
    recorded = record.get(SPLIT_FINGERPRINT)
    # Older cards record no fingerprint: their data and rule, checked above, define the split.
    mine = split.prefix_fingerprints[k - 1] if k < len(mine_keys) else split.fingerprint
    if recorded is not None and recorded != mine:
        return (
            f"validation split ({SPLIT_FINGERPRINT} {recorded}, this run's {mine}: "
            f"{hint}, and the same --labels and --limit)"
        )
    return None


def warm_start_source(cfg: TrainConfig, split: Split) -> SourceModel:
    """The --init-from model, refused unless it shares the architecture, input, labels and split."""
    src = open_source(cfg.init_from or "", "--init-from")
    card = src.card
    problems = []
    if card.architecture.get("name") != cfg.arch:
        problems.append(f"architecture {card.architecture.get('name')} (asked {cfg.arch})")
    if card.input.shape != cfg.input_spec.shape or card.input.colour != cfg.colour:
        problems.append(f"input {card.input.shape} {card.input.colour}")
    hint = "use the same --data, --seed and recipe val_fraction"
    _refuse(problems, card, cfg, split, hint, f"--init-from {src.path} cannot be continued here")
    return src


def teacher_source(name: str, cfg: TrainConfig, split: Split) -> SourceModel:
    """One --teacher model, refused unless it shares the input (normalisation too), labels and split."""
    src = open_source(name, "--teacher")
    card = src.card
    problems = []
    if (
        card.input.shape != cfg.input_spec.shape
        or card.input.colour != cfg.colour
        or card.input.normalization != cfg.normalization
    ):
        problems.append(f"input {card.input.shape} {card.input.colour}")
    hint = "same --data, --seed and recipe val_fraction needed"
    _refuse(problems, card, cfg, split, hint, f"--teacher {src.path} cannot teach this run")
    return src


def _refuse(
    problems: list[str], card: ModelCard, cfg: TrainConfig, split: Split, hint: str, head: str
) -> None:
    """Add the checks every source model shares (labels, split) and refuse it in one line."""
    if card.labels != cfg.label_names:
        problems.append(f"labels {card.labels}")
    split_issue = split_problem(card, cfg, split, hint)
    if split_issue:
        problems.append(split_issue)
    if problems:
        raise ValueError(f"{head}: it differs in " + "; ".join(problems))
