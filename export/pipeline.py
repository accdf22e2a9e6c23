"""Export one trained Keras model to every target, verifying each file before it is kept.

For each target the bytes go to a hidden temporary file in the model's folder, are
loaded back with onnxruntime or LiteRT, compared with Keras on held-out faces, and
only then renamed over the previous file and given their card. A failed check or an
interrupted run leaves the previous good file and card exactly as they were.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from export.calibration import Calibration, calibration_set
from export.quantize import DEFAULT_RECIPE, Int8Recipe
from export.verify import ExportError, check_int8_graph, check_onnx_graph, compare, failures
from runtime.backends import LiteRTClassifier, open_classifier, single_face_ms
from runtime.card import ONNX_CARD_KEY, ModelCard, card_to_json, file_entry, write_card
from runtime.model_folder import EXPORTS, KERAS, card_path, card_precision, export_name, keras_path
from train.datasets.base import FaceDataset
from train.evaluate import load_for, load_keras_model, metrics_of, predict, split_name
from train.report import summary


@dataclass(frozen=True)
class Target:
    format: str  # a backend: onnx | tflite
    precision: str  # fp32 | fp16 | int8 (cards and reports record it as card_precision spells it)

    @property
    def filename(self) -> str:
        return export_name(self.format, self.precision)


TARGETS = tuple(Target(backend, precision) for backend, precision in EXPORTS)


@dataclass
class Held:
    """One held-out evaluation split with the Keras model's probabilities on it."""

    name: str
    data: FaceDataset
    reference: np.ndarray


@dataclass
class Exported:
    target: Target
    path: Path
    ok: bool
    size: int = 0
    checks: dict = field(default_factory=dict)  # split -> Comparison dict
    latency_ms: float | None = None
    error: str = ""

    def row(self) -> dict:
        return {
            "file": self.path.name,
            "format": self.target.format,
            "precision": card_precision(self.target.precision),
            "ok": self.ok,
            "size": self.size,
            "checks": self.checks,
            "latency_ms_1_thread": self.latency_ms,
            "error": self.error,
        }


def tool_versions() -> dict:
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:
        litert = None
    return {
        "tensorflow": tf.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "ai_edge_litert": litert,
    }


def _convert(model, card: ModelCard, target: Target, calib: Calibration, recipe: Int8Recipe) -> bytes:
    from export import convert

    if target.format == "onnx":
        proto = convert.to_onnx(model, card)
        check_onnx_graph(proto)
        data = proto.SerializeToString()
        if target.precision == "int8":
            import onnx

            from export.quantize import onnx_int8

            data = onnx_int8(data, calib, recipe)
            quantized = onnx.load_from_string(data)
            check_onnx_graph(quantized)
            check_int8_graph(quantized)  # same answers on every CPU class, smooth output
        return data
    return convert.to_tflite(
        model,
        card,
        card_precision(target.precision),
        lambda: calib.batches(1),
        float_convs=recipe.float_convs,
    )


def _quantization_recipe(target: Target, recipe: Int8Recipe) -> dict:
    """How an int8 file was quantized, for its card (TFLite takes only ``float_convs`` from
    ``recipe``: its converter has its own settings)."""
    from export.convert import TFLITE_INT8_RECIPE

    if target.format == "tflite":
        return {**TFLITE_INT8_RECIPE, "float_convs": recipe.float_convs}
    return {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "per_channel": True,
        **recipe.to_dict(),
    }


def _check_line(split: str, v: dict) -> str:
    """One split's verification, as the export log shows it."""
    if "top1_agreement" not in v:
        return (
            f"{split} MAE {v['mae']:.3f} (Keras {v['reference_mae']:.3f}), "
            f"mean difference {v['mean_abs_diff']:.3g}"
        )
    return (
        f"{split} acc {100 * v['accuracy']:.2f} % (Keras {100 * v['reference_accuracy']:.2f}), "
        f"agreement {100 * v['top1_agreement']:.2f} %"
    )


def _with_embedded_card(data: bytes, card: ModelCard) -> bytes:
    """ONNX carries its card in metadata_props, so a lone .onnx file still describes itself
    (everything but its own checksum, which only the card beside it can hold)."""
    import onnx

    proto = onnx.load_from_string(data)
    for p in list(proto.metadata_props):
        if p.key == ONNX_CARD_KEY:
            proto.metadata_props.remove(p)
    proto.metadata_props.add(key=ONNX_CARD_KEY, value=card_to_json(replace(card, files={})))
    proto.doc_string = f"{card.name}: {card.task} classifier; labels {', '.join(card.labels)}"
    return proto.SerializeToString()


def export_target(
    model,
    card: ModelCard,
    source_sha: str,
    target: Target,
    folder: Path,
    held: list[Held],
    calib: Calibration,
    threads: int = 1,
    log: Callable[[str], None] = print,
    recipe: Int8Recipe = DEFAULT_RECIPE,
) -> Exported:
    final = folder / target.filename
    tmp = folder / f".tmp-{target.filename}"
    result = Exported(target, final, ok=False)
    try:
        data = _convert(model, card, target, calib, recipe)
        tmp.write_bytes(data)
        clf = open_classifier(tmp, threads)
        problems, metrics = [], {}
        for h in held:
            probs = predict(clf.predict, card, h.data)
            c = compare(h.reference, probs, h.data.labels, card.kind)
            result.checks[h.name] = c.to_dict()
            problems += failures(target.precision, c, h.name)
            metrics[h.name] = summary(metrics_of(card, h.data, probs))
        if problems:
            raise ExportError("; ".join(problems))
        extra: dict = {}
        if isinstance(clf, LiteRTClassifier):
            extra = {
                "input_quantization": clf.input_q.to_dict(),
                "output_quantization": clf.output_q.to_dict(),
            }
        out_card = replace(
            card,
            metrics=metrics,
            files={},
            export={
                "source": {"file": KERAS, "sha256": source_sha},
                "format": target.format,
                "precision": card_precision(target.precision),
                "tools": tool_versions(),
                "calibration": calib.source if target.precision == "int8" else None,
                **(
                    {"quantization": _quantization_recipe(target, recipe)}
                    if target.precision == "int8"
                    else {}
                ),
                "verification": result.checks,
            },
        )
        if target.format == "onnx":
            tmp.write_bytes(_with_embedded_card(data, out_card))
            again = open_classifier(tmp, threads)
            probe = held[0].data.subset(np.arange(min(64, len(held[0].data))))
            if not np.array_equal(predict(again.predict, card, probe), predict(clf.predict, card, probe)):
                raise ExportError("embedding the card changed the model's outputs")
            clf = again
        result.latency_ms = single_face_ms(clf, calib.x[0]) if len(calib.x) else None
        entry = file_entry(tmp, target.format, card_precision(target.precision), **extra)
        out_card.files = {final.name: entry}
        os.replace(tmp, final)
        write_card(out_card, card_path(final))
        result.ok, result.size = True, entry.size
        log(
            f"  {final.name}: ok, {entry.size / 1024:.0f} KiB, "
            + ", ".join(_check_line(k, v) for k, v in result.checks.items())
        )
    except Exception as e:
        result.error = str(e).splitlines()[0] if str(e) else type(e).__name__
        kept = " (the previous file is kept)" if final.exists() else ""
        log(f"  {final.name}: FAILED: {result.error}{kept}")
    finally:
        tmp.unlink(missing_ok=True)
    return result


def export_model(
    model_path: Path,
    eval_specs: list[str],
    targets: tuple[Target, ...] = TARGETS,
    calib_size: int = 512,
    calib_seed: int = 0,
    threads: int = 1,
    fmt: str = "auto",
    log: Callable[[str], None] = print,
    calib_extra: tuple[str, ...] = (),
    recipe: Int8Recipe = DEFAULT_RECIPE,
) -> tuple[list[Exported], list[Held], ModelCard, Path]:
    """Export every target of one model: one record per target (ok or not), the held-out
    splits with Keras's answers, the source card and model path."""
    model_path = keras_path(model_path)
    model, card = load_keras_model(model_path)
    if not eval_specs:
        raise ValueError(f"{model_path}: give held-out data to verify against (--eval)")
    held = []
    for spec in eval_specs:
        ds = load_for(card, spec, fmt)
        held.append(Held(split_name(spec), ds, predict(model.predict_on_batch, card, ds)))
    calib = calibration_set(card, calib_size, calib_seed, fmt, calib_extra)
    log(
        f"{card.name}: {len(calib.x)} calibration faces, verifying on "
        + ", ".join(f"{h.name} ({len(h.data)})" for h in held)
    )
    for stale in model_path.parent.glob(".tmp-*"):  # left by an export killed mid-write
        stale.unlink()
    sha = card.files[model_path.name].sha256
    records = [
        export_target(model, card, sha, t, model_path.parent, held, calib, threads, log, recipe)
        for t in targets
    ]
    return records, held, card, model_path
