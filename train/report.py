"""A trained model's report: learning curves, confusion matrices, per-class table, Grad-CAM.

Everything lands in the run folder next to the model, and the evaluation figures
go into the model card, so the card always says how good the file beside it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from runtime.card import atomic_write_bytes, card_path_for, file_entry, read_card, write_card
from runtime.markdown import table
from runtime.outputs import Expectation
from runtime.preprocess import prepare_crop
from train.evaluate import Scored, load_keras_model, score, split_name


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(log_csv: Path, out: Path) -> None:
    import pandas as pd

    plt = _plt()
    df = pd.read_csv(log_csv)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(df.epoch, df.loss, label="train")
    axes[0].plot(df.epoch, df.val_loss, label="validation")
    axes[0].set_title("loss")
    axes[1].plot(df.epoch, df.accuracy, label="train (augmented)")
    axes[1].plot(df.epoch, df.val_accuracy, label="validation")
    axes[1].set_title("accuracy")
    axes[2].plot(df.epoch, df.lr)
    axes[2].set_title("learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, labels: list[str], title: str, out: Path) -> None:
    plt = _plt()
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    size = 1.0 + 0.75 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n({cm[i, j]})",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def last_feature_layer(model):
    """The last convolutional feature map (not a pooled one): where Grad-CAM looks."""
    import keras

    for layer in reversed(model.layers):
        shape = layer.output.shape
        pooling = isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D))
        if len(shape) == 4 and shape[1] and shape[1] > 1 and not pooling:
            return layer
    raise ValueError("model has no spatial feature map for Grad-CAM")


def grad_cam(model, x: np.ndarray, class_idx: np.ndarray) -> np.ndarray:
    """Class-activation maps in [0, 1], one per input, at input resolution.

    Grad-CAM (Selvaraju et al. 2017) in its element-wise form (HiResCAM, Draelos & Carin 2020).
    """
    import cv2
    import keras
    import tensorflow as tf

    layer = last_feature_layer(model)
    # Class scores before the softmax: a saturated probability has almost no gradient.
    head = model.layers[-1]
    scores = head.input if isinstance(head, keras.layers.Softmax) else model.output
    probe = keras.Model(model.inputs, [layer.output, scores])
    xt = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        feats, logits = probe(xt, training=False)
        # How much this class beats the others (with two classes, z_c alone says little).
        margin = logits - tf.reduce_mean(logits, axis=1, keepdims=True)
        picked = tf.gather(margin, class_idx, axis=1, batch_dims=1)
    grads = tape.gradient(picked, feats).numpy()
    feats = feats.numpy()
    # Element-wise gradient x activation (HiResCAM): faithful for a flatten + dense head too,
    # where Grad-CAM's spatially averaged weights cancel out.
    cams = np.maximum((grads * feats).sum(axis=-1), 0)
    out = np.empty((len(x), x.shape[1], x.shape[2]), np.float32)
    for i, cam in enumerate(cams):
        cam = cv2.resize(cam, (x.shape[2], x.shape[1]), interpolation=cv2.INTER_CUBIC)
        cam -= cam.min()
        out[i] = cam / cam.max() if cam.max() > 0 else cam
    return out


def plot_grad_cam(model, s: Scored, out: Path, per_class: int = 4, seed: int = 0) -> None:
    """A grid: per class, a few test faces with the map for the predicted class laid over."""
    import cv2

    plt = _plt()
    rng = np.random.default_rng(seed)
    labels = s.card.labels
    picks = []
    for c in range(len(labels)):
        idx = np.flatnonzero(s.data.labels == c)
        picks.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    fig, axes = plt.subplots(
        len(labels), per_class, figsize=(1.9 * per_class, 2.0 * len(labels)), squeeze=False
    )
    for c, idx in enumerate(picks):
        if len(idx):
            x = np.stack([prepare_crop(s.data.images[i], s.card.input, s.data.order) for i in idx])
            pred = s.probs[idx].argmax(1)
            cams = grad_cam(model, x, pred)
        for k in range(per_class):
            ax = axes[c, k]
            ax.axis("off")
            if k >= len(idx):
                continue
            face = np.asarray(s.data.images[idx[k]])
            face = (
                face
                if face.ndim == 3 and face.shape[2] == 3
                else np.repeat(face.reshape(face.shape[0], face.shape[1], 1), 3, axis=2)
            )
            heat = cv2.resize(cams[k], (face.shape[1], face.shape[0]))
            color = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
            ax.imshow((0.55 * face + 0.45 * color).astype(np.uint8))
            ok = "" if pred[k] == c else " ✗"
            ax.set_title(f"{labels[c]}→{labels[pred[k]]}{ok}", fontsize=7)
    fig.suptitle(f"Grad-CAM on {split_name(s.data.name)} (true→predicted)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def per_class_markdown(metrics: dict) -> str:
    lines = ["| class | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in metrics["per_class"]:
        lines.append(
            f"| {r['class']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |"
        )
    return "\n".join(lines)


def summary(metrics: dict) -> dict:
    """The figures that go into the card (the full tables stay in the report)."""
    keep = (
        "n",
        "accuracy",
        "balanced_accuracy",
        "accuracy_by_class",
        "woman_man_gap",
        "ferplus_majority_accuracy",
        "ferplus_n",
    )
    out = {k: metrics[k] for k in keep if k in metrics}
    if "by_age" in metrics:
        out["by_age"] = metrics["by_age"]
    return out


def classification_section(model, card, s: Scored, name: str, figures: Path) -> list[str]:
    """A softmax model on one split: accuracy figures, per-class table, confusion, Grad-CAM."""
    plot_confusion(
        np.array(s.metrics["confusion"]),
        card.labels,
        f"{card.name} on {name} (acc {s.metrics['accuracy']:.3f})",
        figures / f"confusion_{name}.png",
    )
    plot_grad_cam(model, s, figures / f"gradcam_{name}.png")
    md = [f"## {name}: accuracy {s.metrics['accuracy']:.4f} (n = {s.metrics['n']})", ""]
    for k in ("balanced_accuracy", "ferplus_majority_accuracy", "woman_man_gap"):
        if k in s.metrics:
            md.append(f"- {k.replace('_', ' ')}: {s.metrics[k]:.4f}")
    for band, v in s.metrics.get("by_age", {}).items():
        md.append(
            f"- age {band.replace('_', ' ')}: {v['accuracy']:.4f} (n = {v['n']}); "
            + ", ".join(
                f"{k.removeprefix('accuracy_')} {x:.4f}" for k, x in v.items() if k.startswith("accuracy_")
            )
        )
    return [
        *md,
        "",
        per_class_markdown(s.metrics),
        "",
        f"![confusion matrix](report/confusion_{name}.png)",
        "",
        f"![Grad-CAM](report/gradcam_{name}.png)",
        "",
    ]


def estimate_summary(metrics: dict) -> dict:
    """An estimate's figures for the card: overall, and the error per band."""
    return {k: v for k, v in metrics.items() if k != "by_band"} | {
        "mae_by_band": {band: v["mae"] for band, v in metrics["by_band"].items()}
    }


def plot_estimates(
    truth: np.ndarray, estimate: np.ndarray, metrics: dict, title: str, unit: str, out: Path
) -> None:
    """Predicted against true value (a scatter with the diagonal), and the error per band."""
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4))
    ax.scatter(truth, estimate, s=3, alpha=0.25)
    top = float(max(truth.max(), estimate.max())) + 2
    ax.plot([0, top], [0, top], color="k", lw=0.8)
    ax.set(xlabel=f"true ({unit})", ylabel=f"estimated ({unit})", title=title, xlim=(0, top), ylim=(0, top))
    bands = metrics["by_band"]
    bx.bar(list(bands), [v["mae"] for v in bands.values()], color="#48c")
    for i, v in enumerate(bands.values()):
        bx.text(i, v["mae"], f"{v['mae']:.1f}\nn={v['n']}", ha="center", va="bottom", fontsize=7)
    bx.set(xlabel="true band", ylabel=f"mean absolute error ({unit})", title="error by band")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def estimate_section(card, s: Scored, name: str, figures: Path) -> list[str]:
    """An expected-value model (age) on one split: errors overall and per band, and a scatter."""
    kind, m = card.kind, s.metrics
    unit = card.output.get("unit", "")
    within = next(k for k in m if k.startswith("within_"))
    plot_estimates(
        s.data.labels.astype(np.float64),
        kind.estimates(s.probs),
        m,
        f"{card.name} on {name} (MAE {m['mae']:.2f})",
        unit,
        figures / f"estimates_{name}.png",
    )
    rows = [
        [band, v["n"], f"{v['mae']:.2f}", f"{100 * v[within]:.1f} %", f"{v['bias']:+.2f}"]
        for band, v in m["by_band"].items()
    ]
    return [
        f"## {name}: mean absolute error {m['mae']:.2f} {unit} (n = {m['n']})",
        "",
        f"- within ±{within.removeprefix('within_')} {unit}: {100 * m[within]:.1f} %",
        f"- mean signed error (bias): {m['bias']:+.2f} {unit}",
        "",
        *table(["true band", "n", "MAE", f"within ±{within.removeprefix('within_')}", "bias"], rows, "lrrrr"),
        "",
        f"![estimates](report/estimates_{name}.png)",
        "",
    ]


def report(model_path: Path, eval_specs: list[str], fmt: str = "auto") -> dict:
    """Evaluate on each split, draw the figures, update the card; returns the card's metrics."""
    model_path = Path(model_path)
    run = model_path.parent
    model, card = load_keras_model(model_path)
    figures = run / "report"
    figures.mkdir(exist_ok=True)
    md = [f"# {card.name}: training report", ""]
    if card.training.get("command"):
        md += ["Reproduce:", "", f"    {card.training['command']}", ""]
    arch = card.architecture
    md += [
        f"Architecture `{arch.get('name')}`: {arch.get('params', 0):,} parameters, "
        f"{arch.get('macs', 0) / 1e6:.1f} M multiply-adds per face, input "
        f"{card.input.height}x{card.input.width} {card.input.colour}.",
        "",
    ]
    t = card.training
    if t:
        md += [
            f"Trained {t.get('epochs_run')} epochs (best epoch {t.get('best_epoch')}, selected "
            f"on the validation split carved from training data), "
            f"{t.get('train_seconds', 0) / 60:.0f} min on this machine.",
            "",
        ]
        if t.get("init_from"):
            src = t["init_from"]
            md += [
                f"A warm restart: it started from `{src['model']}` ({src['name']}, "
                f"{src['epochs_run']} epochs, {src['train_seconds'] / 60:.0f} min, validation "
                f"accuracy {src['validation_accuracy']}), on the same validation split; "
                f"{t.get('train_seconds_total', 0) / 60:.0f} min of training in all.",
                "",
            ]
    if (run / "log.csv").exists():
        plot_curves(run / "log.csv", figures / "curves.png")
        md += ["![learning curves](report/curves.png)", ""]
    if t.get("init_backbone_from"):
        src = t["init_backbone_from"]
        md += [
            f"Its layers started from those of `{src['model']}` ({src['name']}, a {src['task']} "
            "model) up to the first that differs; its head started fresh.",
            "",
        ]
    all_metrics = {}
    for spec in eval_specs:
        s = score(model.predict_on_batch, card, spec, fmt)
        name = split_name(spec)
        all_metrics[name] = s.metrics
        if isinstance(card.kind, Expectation):
            card.metrics[name] = estimate_summary(s.metrics)
            md += estimate_section(card, s, name, figures)
        else:
            card.metrics[name] = summary(s.metrics)
            md += classification_section(model, card, s, name, figures)
    atomic_write_bytes(figures / "metrics.json", (json.dumps(all_metrics, indent=2) + "\n").encode())
    atomic_write_bytes(run / "report.md", ("\n".join(md) + "\n").encode())
    card.files[model_path.name] = file_entry(model_path, "keras", "float32")
    write_card(card, card_path_for(model_path))
    return card.metrics


def record_command(model_path: Path, command: str) -> None:
    """Store the command that reproduces the model in its card."""
    path = card_path_for(Path(model_path))
    card = read_card(path)
    card.training["command"] = command
    write_card(card, path)


def results_markdown(card_paths: list[Path]) -> str:
    """One table row per shipped model, straight from the cards (no figure typed by hand)."""
    header = ["model", "task", "input", "params", "M MACs", "epochs (best)", "train time"]
    header += ["split", "n", "accuracy", "other"]
    rows = []
    for path in card_paths:
        card = read_card(Path(path))
        t, a = card.training, card.architecture
        head = [
            card.name,
            card.task,
            f"{card.input.height}x{card.input.width} {card.input.colour}",
            f"{a.get('params', 0):,}",
            f"{a.get('macs', 0) / 1e6:.0f}",
            f"{t.get('epochs_run')} ({t.get('best_epoch')})",
            f"{t.get('train_seconds', 0) / 60:.0f} min",
        ]
        for split, m in card.metrics.items():
            other = []
            if "accuracy_by_class" in m:
                other.append(", ".join(f"{k} {v:.4f}" for k, v in m["accuracy_by_class"].items()))
            if "by_age" in m and "adults_18_plus" in m["by_age"]:
                other.append(f"adults {m['by_age']['adults_18_plus']['accuracy']:.4f}")
            if "ferplus_majority_accuracy" in m:
                other.append(f"FER+ majority {m['ferplus_majority_accuracy']:.4f}")
            if "balanced_accuracy" in m:
                other.append(f"balanced {m['balanced_accuracy']:.4f}")
            if "mae" in m:  # an estimate (age): its error where the accuracy goes
                rows.append(
                    [*head, split, m.get("n", ""), f"MAE {m['mae']:.2f}", f"bias {m.get('bias', 0):+.2f}"]
                )
                continue
            rows.append([*head, split, m.get("n", ""), f"{m['accuracy']:.4f}", "; ".join(other)])
    return "\n".join(table(header, rows, "lllrrlrlrrl"))
