"""python -m export: Keras models -> verified ONNX and TFLite files (float and int8) with cards."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from export.pipeline import TARGETS, Target
from export.quantize import DEFAULT_RECIPE
from runtime.cli import OneLineParser, one_line_errors
from runtime.model_folder import KERAS, normalize_precision


def _target_name(name: str) -> str:
    """``format:precision`` with the precision spelled fp32 | fp16 | int8 (``onnx:float32``,
    the old spelling, still names ``onnx:fp32``)."""
    fmt, _, precision = name.partition(":")
    try:
        return f"{fmt}:{normalize_precision(precision)}"
    except ValueError:
        return name


def parse_targets(names: list[str] | None) -> tuple[Target, ...]:
    if not names:
        return TARGETS
    by_name = {f"{t.format}:{t.precision}": t for t in TARGETS}
    unknown = [n for n in names if _target_name(n) not in by_name]
    if unknown:
        raise ValueError(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    return tuple(by_name[_target_name(n)] for n in names)


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m export", description=__doc__)
    p.add_argument("--model", nargs="+", required=True, help="trained model folders (or their model.keras)")
    p.add_argument(
        "--eval",
        nargs="+",
        default=None,
        metavar="DATA",
        help="held-out data to verify on (default: the run's own evaluation splits from config.json)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="FORMAT:PRECISION",
        help="export only these, e.g. onnx:int8 tflite:fp16",
    )
    p.add_argument("--calib-size", type=int, default=512, help="calibration faces for int8")
    p.add_argument(
        "--calib-extra",
        nargs="+",
        default=[],
        metavar="DATA",
        help="training data of other sources to share the int8 calibration draw equally with "
        "the model's own training faces (never an evaluation split)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration draw")
    p.add_argument(
        "--float-convs",
        type=int,
        default=DEFAULT_RECIPE.float_convs,
        metavar="N",
        help="leading convolutions int8 files keep float (default %(default)s; the nano "
        "emotion model needs 2, docs/results.md)",
    )
    p.add_argument("--threads", type=int, default=1, help="engine threads for checks and timing")
    p.add_argument("--format", default="auto", help="force the data format (default: detect)")
    p.add_argument(
        "--table", action="store_true", help="only print the Markdown table of existing export.json reports"
    )
    p.add_argument("--json", default=None, help="also write all reports as one JSON file")
    a = p.parse_args(argv)

    if a.table:
        from export.report import table_markdown

        try:
            reports = [json.loads(_folder(m).joinpath("export.json").read_text()) for m in a.model]
        except FileNotFoundError as e:
            print(f"error: {e.filename} not found; run 'make export' first", file=sys.stderr)
            return 2
        print(table_markdown(reports))
        return 0

    from train.tfenv import import_tensorflow

    import_tensorflow()
    from export.pipeline import export_model
    from export.report import build_report, read_report, write_report
    from runtime.card import CardError
    from train.datasets.base import DatasetError

    reports, failed = [], []
    with one_line_errors(
        (DatasetError, CardError, ValueError, FileNotFoundError),
        "interrupted: files already exported are complete; the rest are unchanged",
    ):
        targets = parse_targets(a.only)
        if a.float_convs < 0:
            raise ValueError(f"--float-convs is {a.float_convs}; give 0 or more")
        recipe = replace(DEFAULT_RECIPE, float_convs=a.float_convs)
        for m in a.model:
            folder = _folder(m)
            specs = a.eval if a.eval is not None else _run_eval_specs(folder)
            records, held, card, path = export_model(
                folder / KERAS,
                specs,
                targets,
                a.calib_size,
                a.seed,
                a.threads,
                a.format,
                calib_extra=tuple(a.calib_extra),
                recipe=recipe,
            )
            report = build_report(card, path, held, records, read_report(folder))
            write_report(folder, report)
            reports.append(report)
            failed += [f"{folder / r.path.name}: {r.error}" for r in records if not r.ok]
    if a.json:
        from runtime.card import atomic_write_bytes

        atomic_write_bytes(Path(a.json), (json.dumps(reports, indent=2) + "\n").encode())
    if failed:
        print(f"{len(failed)} export(s) failed verification and were not written:", file=sys.stderr)
        for f in failed:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


def _folder(m: str) -> Path:
    path = Path(m)
    return path.parent if path.suffix == ".keras" else path


def _run_eval_specs(folder: Path) -> list[str]:
    cfg = folder / "config.json"
    specs = json.loads(cfg.read_text()).get("eval_data", []) if cfg.exists() else []
    if not specs:
        raise ValueError(f"{folder}: no evaluation data recorded in config.json; pass --eval DATA")
    return specs


if __name__ == "__main__":
    sys.exit(main())
