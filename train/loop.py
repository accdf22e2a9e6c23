"""The training loop: reproducible batches, a checkpoint every epoch, resume after any stop.

``train`` reads top to bottom: prepare the data (and check any source models), open the
run folder (fresh or resumed), build or reload the model, run the epochs, then write the
selected model with its card. The run folder's files are in ``train.run_folder``, the
learning-rate schedule in ``train.schedule``, the prepared arrays in ``train.inputs``.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.card import ModelCard, file_entry, write_card
from train.config import TrainConfig
from train.data import SPLIT_FINGERPRINT, source_count, unique_sources, validation_rule
from train.inputs import Prepared, evaluate_arrays, prepare
from train.losses import custom_objects, training_loss
from train.quant_aware import LEVELS, WeightGrid, grid_layers
from train.run_folder import RunFolder, RunState, save_model_atomic
from train.schedule import end_of_epoch, learning_rate
from train.sources import SourceModel, open_source, warm_start_source


@dataclass(frozen=True)
class TrainResult:
    """What one call of ``train`` left behind."""

    model_path: Path | None  # the selected model.keras once the run is finished
    checkpoint: Path  # checkpoints/last.keras: where a paused run resumes from
    finished: bool
    epochs_done: int


def configure_threads(threads: int) -> None:
    """Must run before TensorFlow creates its thread pools (0 = let TF decide)."""
    import tensorflow as tf

    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))


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


def compile_model(model, cfg: TrainConfig, prior: np.ndarray | None = None) -> None:
    import keras

    model.compile(
        optimizer=build_optimizer(cfg),
        loss=training_loss(cfg.recipe.label_smoothing, prior, cfg.logit_adjust),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def train(
    cfg: TrainConfig, restart: bool = False, show_progress: bool = True, stop_after_epochs: int | None = None
) -> TrainResult:
    """Train (or resume) the run in ``cfg.output``.

    ``stop_after_epochs`` ends this call after that many epochs without finishing
    the run (a resumable pause, used by tests and by time-boxed sessions).
    """
    p = prepare(cfg)  # bad data (or a --teacher that does not fit) fails here, before anything is written
    warm = warm_start_source(cfg, p.split) if cfg.init_from else None  # so does an unfit --init-from
    run = RunFolder(Path(cfg.output))
    state, resuming = run.open(cfg, restart)
    if state.finished:
        return TrainResult(run.model, run.last, True, state.epochs_done)

    feed = _Feed(p, cfg)
    model = _resume_model(run, state) if resuming else _new_model(cfg, warm, p.prior)
    if not _run_epochs(model, cfg, p, feed, run, state, show_progress, stop_after_epochs):
        return TrainResult(None, run.last, False, state.epochs_done)

    path = finalize(cfg, p, state, run, warm)
    state.finished = True
    state.save(run.state)
    return TrainResult(path, run.last, True, state.epochs_done)


def _resume_model(run: RunFolder, state: RunState):
    import keras

    model = keras.models.load_model(run.last, safe_mode=True, custom_objects=custom_objects())
    run.sync_log(state.history)
    print(
        f"resuming {run.out} after epoch {state.epochs_done} (best val acc "
        f"{state.best_val_accuracy:.4f} at epoch {state.best_epoch})",
        flush=True,
    )
    return model


def selection_rule(output: dict) -> str:
    if output.get("kind") == "expectation":
        return (
            f"epoch with the most validation faces within {output.get('within', 5)} {output.get('unit', '')}"
        )
    return "epoch with the best validation accuracy"


def copy_backbone(model, source) -> int:
    """Copy ``source``'s layer weights into ``model``, in order, up to the first layer whose
    weights differ in shape (the head never: its last layer is always left as built).
    Returns the number of layers copied."""
    copied = 0
    for mine, theirs in zip(model.layers[:-2], source.layers[:-2]):
        a, b = mine.get_weights(), theirs.get_weights()
        if type(mine) is not type(theirs) or [w.shape for w in a] != [w.shape for w in b]:
            break
        if a:
            mine.set_weights(b)
        copied += 1
    return copied


def _new_model(cfg: TrainConfig, warm: SourceModel | None, prior: np.ndarray):
    import keras

    from train.models import build

    keras.utils.set_random_seed(cfg.seed)
    model = build(cfg.arch, cfg.input_spec.shape, len(cfg.label_names))
    if warm is not None:
        model.set_weights(keras.models.load_model(warm.path, safe_mode=True, compile=False).get_weights())
        print(f"starting from the weights of {warm.path}", flush=True)
    if cfg.init_backbone_from:
        src = open_source(cfg.init_backbone_from, "--init-backbone-from")
        n = copy_backbone(model, keras.models.load_model(src.path, safe_mode=True, compile=False))
        if n == 0:
            raise ValueError(f"--init-backbone-from {src.path}: no layer fits this model ({cfg.arch})")
        print(f"starting from the first {n} layers of {src.path}", flush=True)
    compile_model(model, cfg, prior)
    return model


class _Feed:
    """The training arrays as tensors, and each epoch's batches: a pure function of seed and epoch."""

    def __init__(self, p: Prepared, cfg: TrainConfig) -> None:
        import tensorflow as tf

        self.cfg = cfg
        self.n = len(p.train.y)
        self.x = tf.constant(p.train.x)
        self.target = tf.constant(p.train.target)
        self.weight = tf.constant(p.weights)
        self.steps = math.ceil(self.n / cfg.recipe.batch_size)

    def dataset(self, epoch: int):
        import tensorflow as tf

        from train.augment import augment_batch

        cfg = self.cfg
        perm = np.random.default_rng([cfg.seed, epoch]).permutation(self.n)
        aug = cfg.recipe.augment
        base = tf.constant([cfg.seed, epoch * 100_003], tf.int64)

        def batch(i, idx):
            x = tf.gather(self.x, idx)
            return (
                augment_batch(x, base + tf.stack([tf.constant(0, tf.int64), i]), aug),
                tf.gather(self.target, idx),
                tf.gather(self.weight, idx),
            )

        ds = tf.data.Dataset.from_tensor_slices(perm).batch(cfg.recipe.batch_size).enumerate()
        return ds.map(batch, num_parallel_calls=1, deterministic=True).prefetch(2)


@dataclass
class _Epoch:
    row: dict  # the log.csv row
    val_loss: float
    val_acc: float
    lr: float  # the rate of the epoch's last batch
    seconds: float


def _run_epochs(
    model,
    cfg: TrainConfig,
    p: Prepared,
    feed: _Feed,
    run: RunFolder,
    state: RunState,
    show_progress: bool,
    stop_after_epochs: int | None,
) -> bool:
    """Run the remaining epochs, saving each; False when paused by ``stop_after_epochs``."""
    r = cfg.recipe
    run_epochs = 0
    grid = WeightGrid.of(model) if cfg.quantization_aware else None
    while state.epochs_done < r.epochs:
        e = _fit_epoch(model, cfg, p, feed, state, show_progress, grid)
        improved = _record_epoch(cfg, state, e)
        run.save_epoch(model, state, e.row, improved)
        print(
            f"epoch {e.row['epoch']}/{r.epochs} loss {e.row['loss']:.4f} acc {e.row['accuracy']:.4f} "
            f"val_loss {e.val_loss:.4f} val_acc {e.val_acc:.4f} lr {e.lr:.2e} {e.seconds:.0f}s",
            flush=True,
        )
        if state.stopped_early:
            print(f"early stop: no better validation accuracy for {r.patience} epochs", flush=True)
            return True
        run_epochs += 1
        if stop_after_epochs is not None and run_epochs >= stop_after_epochs:
            return False
    return True


def _fit_epoch(
    model, cfg: TrainConfig, p: Prepared, feed: _Feed, state: RunState, show: bool, grid: WeightGrid | None
) -> _Epoch:
    """Train one epoch (epoch number ``state.epochs_done``) and score it on the validation split
    (quantization-aware with ``grid``: train.quant_aware)."""
    import keras

    epoch = state.epochs_done
    keras.utils.set_random_seed(cfg.seed * 1000 + epoch)  # dropout: same draws after resume
    t0 = time.time()
    hooks = _batch_hooks(cfg, state, epoch, feed.steps, show, grid)
    hist = model.fit(feed.dataset(epoch), epochs=1, verbose=0, shuffle=False, callbacks=[hooks])
    # select on the weights the run would ship; checkpoints keep the float ones (resume)
    with grid.snapped() if grid else nullcontext():
        val_loss, val_acc, _ = evaluate_arrays(model, p.val, output=cfg.output_spec)
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
    return _Epoch(row, val_loss, val_acc, hooks.lr, seconds)


def _record_epoch(cfg: TrainConfig, state: RunState, e: _Epoch) -> bool:
    """Fold a finished epoch into the state; True when it is the best so far."""
    state.history.append(e.row)
    state.epochs_done = e.row["epoch"]
    state.train_seconds += e.seconds
    improved = e.val_acc > state.best_val_accuracy
    if improved:
        state.best_val_accuracy, state.best_epoch = e.val_acc, state.epochs_done
    end_of_epoch(cfg, state, e.val_loss)
    if state.epochs_done - state.best_epoch >= cfg.recipe.patience:
        state.stopped_early = True
    return improved


def _batch_hooks(
    cfg: TrainConfig, state: RunState, epoch: int, steps: int, show: bool, grid: WeightGrid | None = None
):
    """A Keras callback that sets the per-batch learning rate and drives a tqdm bar (and,
    quantization-aware, runs each batch on snapped weights: train.quant_aware)."""
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
            self.pairs: list = []

        def on_train_batch_begin(self, batch, logs=None):
            self.lr = learning_rate(cfg, epoch * steps + batch, steps, state)
            self.model.optimizer.learning_rate = self.lr
            if grid:
                self.pairs = grid.snap()

        def on_train_batch_end(self, batch, logs=None):
            if grid:
                grid.restore(self.pairs)
            self.bar.update(1)
            if logs and batch % 20 == 0:
                self.bar.set_postfix(loss=f"{logs.get('loss', 0):.3f}", acc=f"{logs.get('accuracy', 0):.3f}")

        def on_train_end(self, logs=None):
            self.bar.close()

    return BatchHooks()


def finalize(
    cfg: TrainConfig, p: Prepared, state: RunState, run: RunFolder, warm: SourceModel | None = None
) -> Path:
    """Write the selected epoch's weights as model.keras (no optimizer) with its card."""
    import keras

    from train.models import build, describe

    model = build(cfg.arch, cfg.input_spec.shape, len(cfg.label_names))
    model.load_weights(run.best_weights)
    if cfg.quantization_aware:
        WeightGrid.of(model).snap()
    val_loss, val_acc, _ = evaluate_arrays(model, p.val, output=cfg.output_spec)
    path = run.model
    save_model_atomic(model, path)
    split = {
        "train": int(len(p.train.y)),
        "validation": int(len(p.val.y)),
        "validation_rule": validation_rule(cfg.recipe.val_fraction, cfg.seed, source_count(cfg.data)),
        SPLIT_FINGERPRINT: p.split.fingerprint,
        "selection": selection_rule(cfg.output_spec),
    }
    if p.split.by_person:
        split["carved_by_person"] = [unique_sources(cfg.data)[i] for i in p.split.by_person]
    if cfg.limit:
        split["limit"] = cfg.limit  # the split is carved from the first `limit` rows only
    card = ModelCard(
        name=cfg.name,
        task=cfg.task,
        labels=cfg.label_names,
        output=cfg.output_spec,
        input=cfg.input_spec,
        architecture=describe(model, cfg.arch),
        training={
            "data": cfg.data,
            "dataset": p.dataset_name,
            "class_counts": p.counts,
            "labels": cfg.labels,
            "split": split,
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
    if warm is not None:
        _record_warm_start(card, warm, state)
    if cfg.init_backbone_from:
        src = open_source(cfg.init_backbone_from, "--init-backbone-from")
        card.training["init_backbone_from"] = {
            "model": str(src.path),
            "name": src.card.name,
            "task": src.card.task,
            "sha256": src.sha256,
            "note": "its layers up to the first that differs; its validation rows were carved "
            "for its own task and may be among this run's",
        }
    if p.teachers:
        card.training["distillation"] = {
            "weight": cfg.distill_weight,
            "teachers": [{"model": name, "sha256": t.sha256} for name, t in zip(cfg.teachers, p.teachers)],
        }
    if cfg.logit_adjust:
        card.training["logit_adjusted_loss"] = {
            "tau": cfg.logit_adjust,
            "prior": dict(zip(cfg.label_names, np.round(p.prior, 5).tolist())),
            "why": "the loss saw the logits plus tau * log(prior): train.losses",
        }
    if cfg.quantization_aware:
        card.training["quantization_aware"] = {
            "weights": f"snapped to [-{LEVELS}, {LEVELS}] x one scale per output channel",
            "layers": [la.name for la in grid_layers(model)],
            "why": "the int8 ONNX recipe (export.quantize): train.quant_aware",
        }
    card.files = {path.name: file_entry(path, "keras", "float32")}
    write_card(card, run.card)
    return path


def _record_warm_start(card: ModelCard, warm: SourceModel, state: RunState) -> None:
    before = warm.card.training
    card.training["init_from"] = {
        "model": str(warm.path),
        "name": warm.card.name,
        "sha256": warm.sha256,
        "epochs_run": before.get("epochs_run"),
        "train_seconds": before.get("train_seconds"),
        "validation_accuracy": warm.card.metrics.get("validation", {}).get("accuracy"),
    }
    card.training["train_seconds_total"] = round(
        state.train_seconds + float(before.get("train_seconds") or 0.0), 1
    )
