"""The training loop: reproducible batches, a checkpoint every epoch, resume after any stop.

Layout of a run folder::

    config.json          resolved TrainConfig (a resumed run must match it)
    state.json           epochs done, best validation score, LR-plateau state
    checkpoints/last.keras   model + optimizer after the last finished epoch
    best.weights.h5      weights of the best epoch on the validation split
    log.csv              one row per epoch
    model.keras          the selected model, without optimizer (written at the end)
    model.card.json      its card

Everything is written to a temporary name and renamed, so a kill at any moment
leaves the previous epoch's files intact and ``train`` picks up from there.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.card import (
    ModelCard,
    atomic_write_bytes,
    card_path_for,
    file_entry,
    read_card,
    verify_file,
    write_card,
)
from train.config import SOFT_LABEL_SOURCES, TrainConfig
from train.data import (
    Arrays,
    class_weights,
    load_datasets,
    select_labels,
    stratified_split,
    to_arrays,
)

REPORT_ONLY = ("eval_data", "name")  # settings a resumed run may change: they shape no weight
LOG_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class ResumeMismatch(RuntimeError):
    """The run folder holds a different configuration than the one asked for."""


@dataclass
class RunState:
    epochs_done: int = 0
    best_val_accuracy: float = -1.0
    best_epoch: int = 0
    lr: float = 0.0  # plateau schedule: current rate
    plateau_best_loss: float = math.inf
    plateau_wait: int = 0
    train_seconds: float = 0.0
    finished: bool = False
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)

    def save(self, path: Path) -> None:
        atomic_write_bytes(path, (json.dumps(self.__dict__, indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> RunState:
        return cls(**json.loads(Path(path).read_text()))


def configure_threads(threads: int) -> None:
    """Must run before TensorFlow creates its thread pools (0 = let TF decide)."""
    import tensorflow as tf

    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))


def learning_rate(cfg: TrainConfig, step: int, steps_per_epoch: int, state: RunState) -> float:
    r = cfg.recipe
    if r.schedule == "plateau":
        return state.lr or r.learning_rate
    warm = r.warmup_epochs * steps_per_epoch
    total = max(1, r.epochs * steps_per_epoch)
    if step < warm:
        return r.learning_rate * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return r.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(cfg: TrainConfig):
    import keras

    r = cfg.recipe
    if r.optimizer == "nadam":
        return keras.optimizers.Nadam(learning_rate=r.learning_rate)
    if r.optimizer == "adamw":
        opt = keras.optimizers.AdamW(learning_rate=r.learning_rate, weight_decay=r.weight_decay)
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
        return opt
    raise ValueError(f"unknown optimizer {r.optimizer!r}")


def compile_model(model, cfg: TrainConfig) -> None:
    import keras

    model.compile(
        optimizer=build_optimizer(cfg),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.recipe.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


@dataclass
class Prepared:
    train: Arrays
    val: Arrays
    weights: np.ndarray  # per training sample
    dataset_name: str
    counts: list[int]


def prepare(cfg: TrainConfig) -> Prepared:
    ds = select_labels(load_datasets(cfg.data, cfg.task, cfg.data_format), cfg.labels)
    if ds.label_names != cfg.label_names:
        raise ValueError(f"data labels {ds.label_names} do not match the {cfg.task} labels {cfg.label_names}")
    if cfg.limit:
        ds = ds.subset(np.arange(min(cfg.limit, len(ds))))
    tr_idx, va_idx = stratified_split(ds.labels, cfg.recipe.val_fraction, cfg.seed)
    spec = cfg.input_spec
    train = to_arrays(ds, spec, tr_idx, smoothing_soft=cfg.labels in SOFT_LABEL_SOURCES)
    val = to_arrays(ds, spec, va_idx, smoothing_soft=cfg.labels in SOFT_LABEL_SOURCES)
    if cfg.teachers:
        w = np.float32(cfg.distill_weight)
        train.target = (1 - w) * train.target + w * teacher_probabilities(cfg, train.x)
    cw = class_weights(train.y, len(cfg.label_names), cfg.recipe.class_weight_power)
    return Prepared(train, val, cw[train.y], ds.name, ds.class_counts().tolist())


def validation_rule(cfg: TrainConfig) -> str:
    return f"stratified {cfg.recipe.val_fraction:.0%} of the training data, seed {cfg.seed}"


def warm_start_source(cfg: TrainConfig) -> tuple[Path, ModelCard]:
    """The --init-from model and its card, refused unless it can be continued honestly.

    It must share the architecture, input and labels, and have been selected on the very
    same carved validation split: otherwise its weights have already seen this run's
    validation images and the selection would flatter it.
    """
    path = Path(cfg.init_from or "")
    path = path / "model.keras" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"--init-from {path}: no such model; give a trained model.keras")
    card = read_card(card_path_for(path))
    verify_file(card, path)
    t = card.training
    problems = []
    if card.architecture.get("name") != cfg.arch:
        problems.append(f"architecture {card.architecture.get('name')} (asked {cfg.arch})")
    if card.input.shape != cfg.input_spec.shape or card.input.colour != cfg.colour:
        problems.append(f"input {card.input.shape} {card.input.colour}")
    if card.labels != cfg.label_names:
        problems.append(f"labels {card.labels}")
    if t.get("data") != cfg.data or t.get("split", {}).get("validation_rule") != validation_rule(cfg):
        problems.append(
            "training data or validation split (use the same --data, --seed and recipe val_fraction)"
        )
    if problems:
        raise ValueError(f"--init-from {path} cannot be continued here: it differs in " + "; ".join(problems))
    return path, card


def teacher_probabilities(cfg: TrainConfig, x: np.ndarray) -> np.ndarray:
    """The mean probabilities of the --teacher models on the prepared training faces.

    Each teacher must take this run's input and labels and have been selected on the very
    same carved validation split: a teacher that trained on this run's validation faces
    would pass what it learnt from them on through its targets."""
    import keras

    probs = []
    for name in cfg.teachers:
        path = Path(name)
        path = path / "model.keras" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"--teacher {path}: no such model; give a trained model.keras")
        card = read_card(card_path_for(path))
        verify_file(card, path)
        problems = []
        if (
            card.input.shape != cfg.input_spec.shape
            or card.input.colour != cfg.colour
            or card.input.normalization != cfg.normalization
        ):
            problems.append(f"input {card.input.shape} {card.input.colour}")
        if card.labels != cfg.label_names:
            problems.append(f"labels {card.labels}")
        if card.training.get("data") != cfg.data or card.training.get("split", {}).get(
            "validation_rule"
        ) != validation_rule(cfg):
            problems.append(
                "training data or validation split (same --data, --seed and recipe val_fraction needed)"
            )
        if problems:
            raise ValueError(f"--teacher {path} cannot teach this run: it differs in " + "; ".join(problems))
        model = keras.models.load_model(path, safe_mode=True)
        probs.append(model.predict(x, batch_size=256, verbose=0).astype(np.float32))
    return np.mean(probs, axis=0)


def _epoch_dataset(p: Prepared, cfg: TrainConfig, epoch: int, x_t, t_t, w_t):
    import tensorflow as tf

    from train.augment import augment_batch

    perm = np.random.default_rng([cfg.seed, epoch]).permutation(len(p.train.y))
    aug = cfg.recipe.augment
    base = tf.constant([cfg.seed, epoch * 100_003], tf.int64)

    def batch(i, idx):
        x = tf.gather(x_t, idx)
        return (
            augment_batch(x, base + tf.stack([tf.constant(0, tf.int64), i]), aug),
            tf.gather(t_t, idx),
            tf.gather(w_t, idx),
        )

    ds = tf.data.Dataset.from_tensor_slices(perm).batch(cfg.recipe.batch_size).enumerate()
    return ds.map(batch, num_parallel_calls=1, deterministic=True).prefetch(2)


def evaluate_arrays(model, arrays: Arrays, batch_size: int = 256) -> tuple[float, float, np.ndarray]:
    """(loss, accuracy, probabilities) on prepared arrays, no augmentation."""
    probs = model.predict(arrays.x, batch_size=batch_size, verbose=0)
    p = np.clip(probs[np.arange(len(arrays.y)), arrays.y], 1e-7, 1.0)
    return float(-np.log(p).mean()), float((probs.argmax(1) == arrays.y).mean()), probs


def _batch_hooks(cfg: TrainConfig, state: RunState, epoch: int, steps: int, show: bool):
    """A Keras callback that sets the per-batch learning rate and drives a tqdm bar."""
    import keras
    from tqdm.auto import tqdm

    class BatchHooks(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.bar = tqdm(
                total=steps,
                desc=f"epoch {epoch + 1}/{cfg.recipe.epochs}",
                unit="batch",
                disable=not show,
                mininterval=2.0,
                leave=False,
            )
            self.lr = 0.0

        def on_train_batch_begin(self, batch, logs=None):
            self.lr = learning_rate(cfg, epoch * steps + batch, steps, state)
            self.model.optimizer.learning_rate = self.lr

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)
            if logs and batch % 20 == 0:
                self.bar.set_postfix(loss=f"{logs.get('loss', 0):.3f}", acc=f"{logs.get('accuracy', 0):.3f}")

        def on_train_end(self, logs=None):
            self.bar.close()

    return BatchHooks()


def save_model_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _save_weights_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.name.removesuffix('.weights.h5')}.tmp.weights.h5")
    model.save_weights(tmp)
    os.replace(tmp, path)


def _append_log(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        if new:
            w.writeheader()
        w.writerow({k: row[k] for k in LOG_FIELDS})
        f.flush()
        os.fsync(f.fileno())


def _rewrite_log(path: Path, history: list[dict]) -> None:
    """Make log.csv agree with the state after a resume (a kill can land between the two writes)."""
    text = (
        ",".join(LOG_FIELDS) + "\n" + "".join(",".join(str(h[k]) for k in LOG_FIELDS) + "\n" for h in history)
    )
    atomic_write_bytes(path, text.encode())


def train(
    cfg: TrainConfig, restart: bool = False, show_progress: bool = True, stop_after_epochs: int | None = None
) -> Path:
    """Train (or resume) the run in ``cfg.output``; returns the final model path when finished.

    ``stop_after_epochs`` ends this call after that many epochs without finishing
    the run (a resumable pause, used by tests and by time-boxed sessions).
    """
    import keras

    from train.models import build

    out = Path(cfg.output)
    p = prepare(cfg)  # bad data fails here, before anything is written
    if cfg.init_from:
        warm_start_source(cfg)  # so does an --init-from model that does not fit
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    cfg_path, state_path, last = out / "config.json", out / "state.json", ckpt_dir / "last.keras"
    if restart:
        for f in (state_path, last, out / "log.csv", out / "best.weights.h5"):
            f.unlink(missing_ok=True)
    resuming = state_path.exists() and last.exists()
    if resuming:
        saved = TrainConfig.load(cfg_path).to_dict()
        asked = cfg.to_dict()
        diff = sorted(k for k in asked if k not in REPORT_ONLY and saved.get(k) != asked[k])
        if diff:
            raise ResumeMismatch(
                f"{out} holds a run with different settings ({', '.join(diff)}); "
                f"use another --output or pass --restart to discard it"
            )
        state = RunState.load(state_path)
    else:
        state = RunState(lr=cfg.recipe.learning_rate)
    cfg.save(cfg_path)
    if state.finished:
        return out / "model.keras"

    import tensorflow as tf

    x_t = tf.constant(p.train.x)
    t_t = tf.constant(p.train.target)
    w_t = tf.constant(p.weights)
    steps = math.ceil(len(p.train.y) / cfg.recipe.batch_size)

    if resuming:
        model = keras.models.load_model(last, safe_mode=True)
        _rewrite_log(out / "log.csv", state.history)
        print(
            f"resuming {out} after epoch {state.epochs_done} (best val acc "
            f"{state.best_val_accuracy:.4f} at epoch {state.best_epoch})",
            flush=True,
        )
    else:
        keras.utils.set_random_seed(cfg.seed)
        model = build(cfg.arch, cfg.input_spec.shape, len(cfg.label_names))
        if cfg.init_from:
            src, _ = warm_start_source(cfg)
            model.set_weights(keras.models.load_model(src, safe_mode=True).get_weights())
            print(f"starting from the weights of {src}", flush=True)
        compile_model(model, cfg)

    r = cfg.recipe
    run_epochs = 0
    while state.epochs_done < r.epochs:
        epoch = state.epochs_done
        keras.utils.set_random_seed(cfg.seed * 1000 + epoch)  # dropout: same draws after resume
        t0 = time.time()
        hooks = _batch_hooks(cfg, state, epoch, steps, show_progress)
        hist = model.fit(
            _epoch_dataset(p, cfg, epoch, x_t, t_t, w_t),
            epochs=1,
            verbose=0,
            shuffle=False,
            callbacks=[hooks],
        )
        val_loss, val_acc, _ = evaluate_arrays(model, p.val)
        seconds = time.time() - t0
        row = {
            "epoch": epoch + 1,
            "loss": round(float(hist.history["loss"][-1]), 5),
            "accuracy": round(float(hist.history["accuracy"][-1]), 5),
            "val_loss": round(val_loss, 5),
            "val_accuracy": round(val_acc, 5),
            "lr": float(f"{hooks.lr:.6g}"),
            "seconds": round(seconds, 1),
        }
        state.history.append(row)
        state.epochs_done = epoch + 1
        state.train_seconds += seconds
        if val_acc > state.best_val_accuracy:
            state.best_val_accuracy, state.best_epoch = val_acc, epoch + 1
            _save_weights_atomic(model, out / "best.weights.h5")
        if r.schedule == "plateau":
            if val_loss < state.plateau_best_loss - 1e-4:
                state.plateau_best_loss, state.plateau_wait = val_loss, 0
            else:
                state.plateau_wait += 1
                if state.plateau_wait >= max(1, r.patience // 4):
                    state.lr, state.plateau_wait = max(state.lr * 0.1, 1e-6), 0
        if state.epochs_done - state.best_epoch >= r.patience:
            state.stopped_early = True
        save_model_atomic(model, last)
        _append_log(out / "log.csv", row)
        state.save(state_path)
        print(
            f"epoch {epoch + 1}/{r.epochs} loss {row['loss']:.4f} acc {row['accuracy']:.4f} "
            f"val_loss {val_loss:.4f} val_acc {val_acc:.4f} lr {hooks.lr:.2e} {seconds:.0f}s",
            flush=True,
        )
        if state.stopped_early:
            print(f"early stop: no better validation accuracy for {r.patience} epochs", flush=True)
            break
        run_epochs += 1
        if stop_after_epochs is not None and run_epochs >= stop_after_epochs:
            return last

    final = finalize(cfg, p, state)
    state.finished = True
    state.save(state_path)
    return final


def finalize(cfg: TrainConfig, p: Prepared, state: RunState) -> Path:
    """Write the selected epoch's weights as model.keras (no optimizer) with its card."""
    import keras

    from train.models import build, describe

    out = Path(cfg.output)
    model = build(cfg.arch, cfg.input_spec.shape, len(cfg.label_names))
    model.load_weights(out / "best.weights.h5")
    val_loss, val_acc, _ = evaluate_arrays(model, p.val)
    path = out / "model.keras"
    save_model_atomic(model, path)
    card = ModelCard(
        name=cfg.name,
        task=cfg.task,
        labels=cfg.label_names,
        input=cfg.input_spec,
        architecture=describe(model, cfg.arch),
        training={
            "data": cfg.data,
            "dataset": p.dataset_name,
            "class_counts": p.counts,
            "labels": cfg.labels,
            "split": {
                "train": int(len(p.train.y)),
                "validation": int(len(p.val.y)),
                "validation_rule": validation_rule(cfg),
                "selection": "epoch with the best validation accuracy",
            },
            "recipe": cfg.recipe.to_dict(),
            "seed": cfg.seed,
            "epochs_run": state.epochs_done,
            "best_epoch": state.best_epoch,
            "stopped_early": state.stopped_early,
            "train_seconds": round(state.train_seconds, 1),
            "keras": keras.__version__,
        },
        metrics={
            "validation": {"accuracy": round(val_acc, 5), "loss": round(val_loss, 5), "n": int(len(p.val.y))}
        },
    )
    if cfg.init_from:
        src, src_card = warm_start_source(cfg)
        before = src_card.training
        card.training["init_from"] = {
            "model": str(src),
            "name": src_card.name,
            "sha256": src_card.files[src.name].sha256,
            "epochs_run": before.get("epochs_run"),
            "train_seconds": before.get("train_seconds"),
            "validation_accuracy": src_card.metrics.get("validation", {}).get("accuracy"),
        }
        card.training["train_seconds_total"] = round(
            state.train_seconds + float(before.get("train_seconds") or 0.0), 1
        )
    if cfg.teachers:
        card.training["distillation"] = {
            "weight": cfg.distill_weight,
            "teachers": [
                {
                    "model": t,
                    "sha256": file_entry(
                        Path(t) / "model.keras" if Path(t).is_dir() else Path(t), "keras", "float32"
                    ).sha256,
                }
                for t in cfg.teachers
            ],
        }
    card.files = {path.name: file_entry(path, "keras", "float32")}
    write_card(card, out / "model.card.json")
    return path
