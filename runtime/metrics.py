"""Classification figures from labels and probabilities, and latency summaries (numpy only).

Shared by training reports, export verification, the runtime's summary and the benchmarks,
so that every accuracy and every p95 in this project is computed one way.
"""

from __future__ import annotations

import numpy as np

AGE_BANDS = (("under_13", 0, 13), ("13_17", 13, 18), ("adults_18_plus", 18, 10_000))
LATENCY_PERCENTILES = (50, 95, 99)


def latency_summary(ms: np.ndarray | list[float], mean_ms: float | None = None) -> dict[str, float]:
    """Mean and p50/p95/p99 of times in milliseconds (numpy's linear percentiles). ``mean_ms``
    overrides the mean where it covers more samples than ``ms`` (a ring of the newest)."""
    a = np.asarray(ms, np.float64)
    mean = float(a.mean()) if mean_ms is None else mean_ms
    return {
        "mean_ms": round(mean, 3),
        **{f"p{q}_ms": round(float(np.percentile(a, q)), 3) for q in LATENCY_PERCENTILES},
    }


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    return np.bincount(y * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (unrounded: for choosing, not reporting)."""
    return float(np.mean([(pred[y == c] == c).mean() for c in np.unique(y)]))


def per_class(cm: np.ndarray, labels: list[str]) -> list[dict]:
    out = []
    for i, name in enumerate(labels):
        tp = cm[i, i]
        support = cm[i].sum()
        predicted = cm[:, i].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(
            {
                "class": name,
                "precision": round(float(precision), 4),
                "recall": round(float(recall), 4),
                "f1": round(float(f1), 4),
                "support": int(support),
            }
        )
    return out


def classification_metrics(
    y: np.ndarray, probs: np.ndarray, labels: list[str], meta: dict[str, np.ndarray] | None = None
) -> dict:
    """Accuracy, per-class table, confusion matrix; for gender also age bands and each class apart."""
    y = np.asarray(y, dtype=np.int64)
    pred = probs.argmax(axis=1)
    cm = confusion(y, pred, len(labels))
    rows = per_class(cm, labels)
    result: dict = {
        "n": int(len(y)),
        "accuracy": round(float((pred == y).mean()) if len(y) else 0.0, 4),
        "balanced_accuracy": round(float(np.mean([r["recall"] for r in rows if r["support"]])), 4),
        "per_class": rows,
        "confusion": cm.tolist(),
    }
    if tuple(labels) == ("woman", "man"):
        result["accuracy_by_class"] = {r["class"]: r["recall"] for r in rows}
        result["woman_man_gap"] = round(abs(rows[0]["recall"] - rows[1]["recall"]), 4)
        age = None if meta is None else meta.get("age")
        if age is not None:
            age = np.asarray(age)
            bands = {}
            for name, lo, hi in AGE_BANDS:
                m = (age >= lo) & (age < hi)
                if m.any():
                    band = {"n": int(m.sum()), "accuracy": round(float((pred[m] == y[m]).mean()), 4)}
                    for c, cname in enumerate(labels):
                        mc = m & (y == c)
                        if mc.any():
                            band[f"accuracy_{cname}"] = round(float((pred[mc] == c).mean()), 4)
                    bands[name] = band
            result["by_age"] = bands
    return result


def estimate_metrics(
    truth: np.ndarray, estimate: np.ndarray, bands: list[tuple[float, str]], last: str, within: float = 5.0
) -> dict:
    """An estimated value against the truth (an age in years): mean absolute error, the
    share within ``within`` units, the mean signed error (bias), and the same per band of
    the truth (``bands``: [upper bound, name] in order, then ``last``)."""
    t, e = np.asarray(truth, np.float64), np.asarray(estimate, np.float64)

    def part(mask: np.ndarray) -> dict:
        err = e[mask] - t[mask]
        return {
            "n": int(mask.sum()),
            "mae": round(float(np.abs(err).mean()), 3) if mask.any() else None,
            f"within_{within:g}": round(float((np.abs(err) <= within).mean()), 4) if mask.any() else None,
            "bias": round(float(err.mean()), 3) if mask.any() else None,
        }

    out = part(np.ones(len(t), bool))
    by_band, lower = {}, -np.inf
    for upper, name in [*bands, (np.inf, last)]:
        mask = (t > lower) & (t <= upper)
        if mask.any():
            by_band[name] = part(mask)
        lower = upper
    out["by_band"] = by_band
    return out
