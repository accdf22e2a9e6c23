"""What a model folder holds and where the model folders are: the one place that knows.

A trained model is a folder: ``model.keras`` with its training card ``model.card.json``,
and the exports beside it, one per backend and precision, each with its own card::

    model.fp32.onnx   model.int8.onnx   model.fp32.tflite   model.fp16.tflite   model.int8.tflite
    model.fp32.onnx.card.json   ...   model.int8.tflite.card.json

Precisions are spelled as in the file names: ``fp32``, ``fp16``, ``int8``. Cards (and the
export reports) have always recorded the long spelling ``float32`` / ``float16``; that
spelling is written and read here only (``card_precision``, ``normalize_precision``).

The folders live in ``trained_models/`` of this checkout, or in ``$EDGE_FACE_MODELS``.
``shipped.json`` there names the folder of each task in each tier (tier -> task -> folder
name); the tasks are the ones it names, so a new task is a new entry there (and its cards),
not a change here.

Standard library only: the Makefile lists the shipped folders with the system Python::

    python3 -m runtime.model_folder shipped      # one line, the folders separated by spaces
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

KERAS = "model.keras"
CARD_SUFFIX = ".card.json"
CARD = "model" + CARD_SUFFIX  # the training card, beside model.keras
SHIPPED_INDEX = "shipped.json"
MODELS_ENV = "EDGE_FACE_MODELS"
PACKAGED_MODELS = "models"  # the wheel's copy of the shipped models, inside the package

PRECISIONS = ("fp32", "fp16", "int8")
BACKENDS = {"onnx": ".onnx", "tflite": ".tflite"}  # backend -> file extension
# Every export a folder can hold, in the order the export, reports and benchmarks list them.
EXPORTS = (("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "fp16"), ("tflite", "int8"))
TIERS = ("accurate", "nano")  # shipped.json's tiers: the laptop default, the Raspberry Pi's

# Old spellings are accepted when read (cards, export reports, --only onnx:float32).
_SPELLINGS = {"fp32": "fp32", "float32": "fp32", "fp16": "fp16", "float16": "fp16", "int8": "int8"}
_CARD_SPELLING = {"fp32": "float32", "fp16": "float16", "int8": "int8"}


def _either(names: tuple[str, ...] | list[str]) -> str:
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)


def normalize_precision(name: str) -> str:
    """fp32 | fp16 | int8 from either spelling (``float32`` and ``float16`` are the cards')."""
    if name not in _SPELLINGS:
        raise ValueError(f"unknown precision {name!r}; choose {_either(PRECISIONS)}")
    return _SPELLINGS[name]


def card_precision(precision: str) -> str:
    """The spelling a card or export report records: float32 | float16 | int8."""
    return _CARD_SPELLING[normalize_precision(precision)]


def export_name(backend: str = "onnx", precision: str = "int8") -> str:
    """The file name of one export, e.g. ``model.int8.onnx``; refuses an export we do not make."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose {_either(list(BACKENDS))}")
    short = normalize_precision(precision)
    if (backend, short) not in EXPORTS:
        made = [p for b, p in EXPORTS if b == backend]
        others = [b for b in BACKENDS if (b, short) in EXPORTS]
        raise ValueError(
            f"there is no {short} {backend.upper()} export; use --precision {_either(made)}"
            + (f", or --backend {_either(others)}" if others else "")
        )
    return f"model.{short}{BACKENDS[backend]}"


EXPORT_NAMES = tuple(export_name(b, p) for b, p in EXPORTS)


def keras_path(model: Path | str) -> Path:
    """A model folder -> its ``model.keras``; a file passes as is."""
    model = Path(model)
    return model / KERAS if model.is_dir() else model


def card_name(file_name: str) -> str:
    """The name of a file's card: ``x.keras`` -> ``x.card.json`` (the training card); an
    export keeps its whole name, ``x.int8.onnx`` -> ``x.int8.onnx.card.json``, since several
    backends and precisions share one folder."""
    if Path(file_name).suffix == ".keras":
        return file_name.split(".")[0] + CARD_SUFFIX
    return file_name + CARD_SUFFIX


def card_path(path: Path | str) -> Path:
    """The card of a model folder (its training card) or of a file in it (``card_name``); a
    path without a suffix that is not there yet counts as a folder."""
    path = Path(path)
    return path / CARD if path.is_dir() or not path.suffix else path.with_name(card_name(path.name))


def export_path(model: Path | str, backend: str = "onnx", precision: str = "int8") -> Path:
    """A model folder plus backend and precision -> the exported file (a file passes as is)."""
    model = Path(model)
    if model.is_file() or model.suffix in BACKENDS.values():
        return model
    return model / export_name(backend, precision)


def exports(folder: Path | str) -> list[Path]:
    """The exported files a folder holds, in ``EXPORTS`` order."""
    return [p for p in (Path(folder) / name for name in EXPORT_NAMES) if p.is_file()]


def artefacts(folder: Path | str) -> dict[str, Path]:
    """Every file a finished, exported model folder holds, by name (present or not): the
    Keras model, its card, every export and every export's card."""
    folder = Path(folder)
    names = [KERAS, card_name(KERAS), *(n for e in EXPORT_NAMES for n in (e, card_name(e)))]
    return {n: folder / n for n in names}


def models_dir() -> Path:
    """$EDGE_FACE_MODELS if set; else the models packaged inside the installed wheel
    (``edge_face/models``); else trained_models/ of this checkout."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env)
    packaged = Path(__file__).resolve().parent / PACKAGED_MODELS
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[1] / "trained_models"


def shipped_index() -> dict[str, dict[str, str]]:
    """trained_models/shipped.json: tier -> task -> model folder name."""
    index = models_dir() / SHIPPED_INDEX
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found; pass --emotion-model and --gender-model")
    return json.loads(index.read_text())


def shipped_models(tier: str = "accurate") -> dict[str, Path]:
    """The model folder of each task we ship in ``tier``."""
    index = shipped_index()
    if tier not in index:
        raise ValueError(
            f"no {tier} tier is shipped (trained_models/shipped.json has "
            f"{', '.join(index)}); pass --tier {next(iter(index))} or model paths"
        )
    return {task: models_dir() / name for task, name in index[tier].items()}


def shipped_exports(precisions: tuple[str, ...] = ("int8", "fp32")) -> dict[str, Path]:
    """Every shipped classifier file of both tiers, keyed ``tier/task/backend/precision``: the
    set the Raspberry Pi benchmarks time, count and fingerprint."""
    return {
        f"{tier}/{task}/{backend}/{precision}": export_path(folder, backend, precision)
        for tier in TIERS
        for task, folder in shipped_models(tier).items()
        for backend in BACKENDS
        for precision in precisions
    }


def task_files(
    tasks: tuple[str, ...] | list[str],
    tier: str = "accurate",
    models: dict[str, Path] | None = None,
    backend: str = "onnx",
    precision: str = "int8",
) -> dict[str, Path]:
    """The exported file each task of a run loads: the shipped model of ``tier``, unless
    ``models`` names another folder or file for that task (a task with neither is left out)."""
    models = models or {}
    folders = {**(shipped_models(tier) if set(tasks) - set(models) else {}), **models}
    return {task: export_path(folders[task], backend, precision) for task in tasks if task in folders}


def shipped_folders() -> list[Path]:
    """Every shipped model folder once: tier by tier, task by task."""
    found = (models_dir() / name for tasks in shipped_index().values() for name in tasks.values())
    return list(dict.fromkeys(found))


def tasks() -> tuple[str, ...]:
    """The tasks: those the shipped index names, in its order; without an index, those the
    training cards of the models folder name (empty if there are none)."""
    try:
        index = shipped_index()
    except FileNotFoundError:
        root = models_dir()
        cards = sorted(root.glob(f"*/{CARD}")) if root.is_dir() else []
        named = (json.loads(c.read_text()).get("task") for c in cards)
        return tuple(dict.fromkeys(t for t in named if isinstance(t, str)))
    return tuple(dict.fromkeys(task for by_task in index.values() for task in by_task))


def card_file_of(folder: Path) -> Path:
    """The card that describes a model folder: its training card, or (a wheel carries the
    exports' cards, not the training card) its first export's."""
    card_file = card_path(folder)
    if not card_file.is_file():
        found = [card_path(p) for p in exports(folder)]
        card_file = found[0] if found else card_file
    return card_file


def shipped_card(task: str, tier: str = "accurate") -> dict:
    """The card (as JSON) of the shipped model of ``task`` in ``tier``: its labels and output."""
    folder = shipped_models(tier).get(task)
    if folder is None:
        raise ValueError(f"no {task} model is shipped in the {tier} tier; choose {_either(list(tasks()))}")
    return json.loads(card_file_of(folder).read_text())


def catalog() -> list[dict]:
    """Each shipped model, tier by tier: its task, name, cost and the exports at hand (read
    from the cards; what ``--list-models`` and ``--version`` say)."""
    rows = []
    for tier, models in shipped_index().items():
        for task, name in models.items():
            folder = models_dir() / name
            card_file = card_file_of(folder)
            arch = json.loads(card_file.read_text()).get("architecture", {}) if card_file.is_file() else {}
            rows.append(
                {
                    "tier": tier,
                    "task": task,
                    "model": name,
                    "macs_m": round(arch.get("macs", 0) / 1e6, 1),
                    "weights": arch.get("params", 0),
                    "files": [p.name for p in exports(folder)],
                }
            )
    return rows


def _shown(path: Path) -> str:
    """Relative to the working directory when under it (``trained_models/x`` for make)."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    from .cli import OneLineParser

    p = OneLineParser(
        prog="python -m runtime.model_folder", description="List the shipped model folders or the tasks."
    )
    p.add_argument("what", choices=("shipped", "tasks"), help="shipped: the folders; tasks: the task names")
    p.add_argument("--tier", choices=TIERS, default=None, help="shipped: only this tier's folders")
    a = p.parse_args(argv)
    try:
        if a.what == "tasks":
            print(" ".join(tasks()))
        else:
            folders = list(shipped_models(a.tier).values()) if a.tier else shipped_folders()
            print(" ".join(_shown(f) for f in folders))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
