"""python -m train {fit,evaluate,report,balance,results}: train, score, report on models."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from runtime.cli import OneLineParser, one_line_errors
from runtime.model_folder import keras_path
from runtime.preprocess import Normalization
from train.config import DATASET_CROPS, LABEL_SOURCES, TASK_PRESETS
from train.recipes import RECIPES


def _fit_parser(sub: argparse._SubParsersAction) -> None:
    from train.models import ARCHITECTURES  # imports Keras: main() has set TensorFlow up

    p = sub.add_parser("fit", help="train a model (resumes the run in --output if there is one)")
    p.add_argument("--task", required=True, choices=list(TASK_PRESETS))
    p.add_argument(
        "--data",
        required=True,
        nargs="+",
        help="training data: .npz (shared layout), fer2013.csv, or an image folder "
        "(FER2013 images, UTKFace, IMDB-WIKI with its .mat, folder-per-class)",
    )
    p.add_argument("--format", default="auto", help="force the data format (default: detect)")
    p.add_argument("--eval", nargs="*", default=[], help="splits to report on (never selected on)")
    p.add_argument("--output", required=True, help="run folder (checkpoints, logs, model, card)")
    p.add_argument(
        "--model", default="edge_vgg", choices=list(ARCHITECTURES), help="architecture (default: edge_vgg)"
    )
    p.add_argument("--recipe", default="edge", choices=list(RECIPES), help="recipe preset (default: edge)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument(
        "--label-smoothing", type=float, default=None, help="override the recipe's label smoothing"
    )
    p.add_argument(
        "--logit-adjust",
        type=float,
        default=0.0,
        metavar="TAU",
        help="learn the prior-corrected boundary: the loss sees the logits plus TAU * "
        "log(training prior) (0..1; default 0, plain cross-entropy)",
    )
    p.add_argument("--size", type=int, default=None, help="input side in pixels (task default)")
    p.add_argument("--colour", choices=("gray", "rgb"), default=None)
    p.add_argument(
        "--crop",
        default=None,
        choices=list(DATASET_CROPS),
        help="framing of the training faces (default: the task's dataset)",
    )
    p.add_argument("--labels", default="fer", choices=LABEL_SOURCES)
    p.add_argument("--norm-scale", type=float, default=None)
    p.add_argument("--norm-offset", type=float, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--init-from",
        default=None,
        metavar="MODEL",
        help="start from this trained model.keras (same architecture, input and "
        "validation split) instead of random weights",
    )
    p.add_argument(
        "--init-backbone-from",
        default=None,
        metavar="MODEL",
        help="start from the layers of this trained model.keras (another task's, same "
        "architecture family and input) up to the first that differs; the head starts fresh",
    )
    p.add_argument(
        "--teacher",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="distil from these trained models (same input, labels and validation "
        "split): targets mix the labels with their mean probabilities",
    )
    p.add_argument(
        "--distill-weight",
        type=float,
        default=0.5,
        help="weight of the teachers' probabilities in the targets (0.5)",
    )
    p.add_argument(
        "--source-weights",
        nargs="+",
        type=float,
        default=[],
        metavar="W",
        help="weight of each --data source's faces in the loss, in order (default: all 1)",
    )
    p.add_argument(
        "--quantization-aware",
        action="store_true",
        help="train on the int8 ONNX export's 7-bit weight grid and save the weights on it "
        "(for narrow models whose int8 file disagrees with the float one too often)",
    )
    p.add_argument("--limit", type=int, default=None, help="use the first N training images")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all)")
    p.add_argument("--name", default="", help="model name in the card")
    p.add_argument("--restart", action="store_true", help="discard a previous run in --output")
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="pause after N epochs this call (resume later with the same command)",
    )
    p.add_argument("--no-report", action="store_true", help="skip the report after training")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a trained or exported model on datasets; prints JSON")
    p.add_argument(
        "--model",
        required=True,
        help="a run folder, its model.keras, or an exported model.*.onnx / .tflite "
        "(scored on the runtime's engines), with its .card.json beside it",
    )
    p.add_argument("--data", required=True, nargs="+", help="datasets (.npz or any loader format)")
    p.add_argument(
        "--carved",
        nargs="?",
        const="",
        default=None,
        metavar="RUN",
        help="score only the faces of each --data source (one the model trained on) that its run "
        "carved out for validation (for CK+48, the people it never saw); with RUN, the faces that "
        "run carved, to score another model beside it",
    )
    p.add_argument("--format", default="auto")
    p.add_argument("--json", default=None, help="also write the JSON to this file")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="curves, confusion matrices, per-class table, Grad-CAM")
    p.add_argument("--model", required=True, help="run folder or its model.keras")
    p.add_argument("--eval", nargs="+", required=True, help="evaluation splits to report on")
    p.add_argument("--format", default="auto")
    p.add_argument("--threads", type=int, default=0)


def _balance_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "balance",
        help="move the decision boundaries on the validation split: equal recall for two classes, "
        "logit adjustment for more",
    )
    p.add_argument("--model", required=True, help="run folder or its model.keras")
    p.add_argument("--threads", type=int, default=0)


def _results_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="Markdown table of models from their cards")
    p.add_argument("cards", nargs="+", help="model.card.json files")


def build_config(a: argparse.Namespace):
    from train.config import TrainConfig
    from train.recipes import get_recipe

    preset = TASK_PRESETS[a.task]
    norm = Normalization.minus_one_to_one()
    if a.norm_scale is not None or a.norm_offset is not None:
        norm = Normalization(
            a.norm_scale if a.norm_scale is not None else norm.scale,
            a.norm_offset if a.norm_offset is not None else norm.offset,
        )
    size = a.size or preset["height"]
    return TrainConfig(
        task=a.task,
        data=[str(d) for d in a.data],
        output=str(a.output),
        arch=a.model,
        recipe=get_recipe(
            a.recipe, epochs=a.epochs, batch_size=a.batch_size, label_smoothing=a.label_smoothing
        ),
        height=size,
        width=size,
        colour=a.colour or preset["colour"],
        normalization=norm,
        crop=a.crop or preset["crop"],
        data_format=a.format,
        labels=a.labels,
        eval_data=[str(e) for e in a.eval],
        seed=a.seed,
        limit=a.limit,
        name=a.name,
        init_from=str(a.init_from) if a.init_from else None,
        init_backbone_from=str(a.init_backbone_from) if a.init_backbone_from else None,
        teachers=[str(t) for t in a.teacher or []],
        distill_weight=a.distill_weight,
        source_weights=list(a.source_weights),
        quantization_aware=a.quantization_aware,
        logit_adjust=a.logit_adjust,
    )


def main(argv: list[str] | None = None) -> int:
    from train.tfenv import import_tensorflow

    import_tensorflow()  # before the parser: it lists the architectures, which import Keras
    parser = OneLineParser(prog="python -m train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _fit_parser(sub)
    _eval_parser(sub)
    _report_parser(sub)
    _results_parser(sub)
    _balance_parser(sub)
    a = parser.parse_args(argv)
    from runtime.backends import BackendError
    from runtime.card import CardError
    from train.datasets.base import DatasetError
    from train.run_folder import ResumeMismatch

    errors = (DatasetError, CardError, BackendError, ResumeMismatch, ValueError, FileNotFoundError)
    with one_line_errors(
        errors, "interrupted: the last finished epoch is saved; run the same command to resume"
    ):
        if a.command == "fit":
            cfg = build_config(a)
            from train.loop import configure_threads, train

            configure_threads(a.threads)
            command = "python -m train " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
            result = train(cfg, restart=a.restart, show_progress=not a.quiet, stop_after_epochs=a.stop_after)
            if not result.finished or result.model_path is None:
                print(f"paused; run the same command again to resume from {result.checkpoint}")
                return 0
            path = result.model_path
            from train.report import record_command

            record_command(path, command)
            if cfg.eval_data and not a.no_report:
                from train.report import report

                print(json.dumps(report(path, cfg.eval_data, cfg.data_format), indent=2))
            print(f"model: {path}")
        elif a.command == "evaluate":
            from train.evaluate import evaluate_model
            from train.loop import configure_threads

            configure_threads(a.threads)
            result = evaluate_model(
                Path(a.model),
                a.data,
                a.format,
                a.threads,
                progress=not a.quiet,
                carved_by=None if a.carved is None else Path(a.carved or a.model),
            )
            text = json.dumps(result, indent=2)
            print(text)
            if a.json:
                from runtime.card import atomic_write_bytes

                atomic_write_bytes(Path(a.json), (text + "\n").encode())
        elif a.command == "report":
            from train.loop import configure_threads
            from train.report import report

            configure_threads(a.threads)
            path = Path(a.model)
            path = keras_path(path)
            print(json.dumps(report(path, a.eval, a.format), indent=2))
        elif a.command == "balance":
            from train.balance import balance
            from train.loop import configure_threads

            configure_threads(a.threads)
            path = Path(a.model)
            print(json.dumps(balance(keras_path(path)), indent=2))
        elif a.command == "results":
            from train.report import results_markdown

            print(results_markdown([Path(c) for c in a.cards]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
