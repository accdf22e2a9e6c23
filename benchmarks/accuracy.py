"""Every exported file of every shipped model, scored on the evaluation splits at hand.

Runs with the lean runtime only: the files go through ``runtime.backends`` and the faces
through ``runtime.preprocess``, exactly as the live runtime feeds them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runtime.backends import open_classifier
from runtime.card import read_card, verify_file
from runtime.model_folder import card_path, exports
from train.datasets.base import DatasetError
from train.evaluate import load_for, metrics_of, predict, split_name

KEEP = (
    "n",
    "accuracy",
    "balanced_accuracy",
    "accuracy_by_class",
    "woman_man_gap",
    "by_age",
    "ferplus_majority_accuracy",
    "mae",  # an estimate (age): errors in years
    "within_5",
    "bias",
)


def score_models(
    folders: dict[str, Path],
    specs: list[str],
    threads: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> list[dict]:
    rows = []
    for task, folder in folders.items():
        files = exports(folder)
        for spec in specs:
            try:
                ds = None
                for path in files:
                    card = read_card(card_path(path))
                    verify_file(card, path)
                    if ds is None:
                        ds = load_for(card, spec)
                    progress(f"{path.parent.name}/{path.name} on {split_name(spec)}")
                    probs = predict(open_classifier(path, threads).predict, card, ds)
                    m = metrics_of(card, ds, probs)
                    rows.append(
                        {
                            "task": task,
                            "model": card.name,
                            "file": path.name,
                            "split": split_name(spec),
                            **{k: m[k] for k in KEEP if k in m},
                        }
                    )
            except DatasetError:
                continue  # a split of the other task
    return rows
