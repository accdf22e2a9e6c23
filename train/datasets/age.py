"""Age labels from the faces of a gender source: one bin per year, with a soft target.

UTKFace and All-Age-Faces give every face its age in years. A face's label is its year
(0 to 100; older ages join the last bin) and its training target a discretised Gaussian
around it (label distribution learning, as in DLDL, Gao et al. 2017): neighbouring years
look alike, so a face of 31 teaches 30 and 32 a little too, and a model trained so gives
an expected value whose error is lower than a one-hot classifier's or a plain regression's
on small data.
"""

from __future__ import annotations

import numpy as np

from runtime.card import AGE_LABELS
from train.datasets.base import DatasetError, FaceDataset

AGE_SIGMA = 2.5  # years: the spread of each face's target distribution


def age_targets(ages: np.ndarray, sigma: float = AGE_SIGMA) -> np.ndarray:
    """(N, 101) distributions: a Gaussian over the year bins around each (clipped) age."""
    years = np.arange(len(AGE_LABELS), dtype=np.float32)
    a = np.clip(np.asarray(ages, np.float32), 0, years[-1])[:, None]
    w = np.exp(-0.5 * ((years[None, :] - a) / sigma) ** 2)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def age_dataset(ds: FaceDataset) -> FaceDataset:
    """``ds`` relabelled by age: labels are years (bins), soft targets Gaussians around them."""
    if "age" not in ds.meta:
        raise DatasetError(f"{ds.name} has no ages; the age task needs a source with an age per face")
    ages = np.asarray(ds.meta["age"], np.int64)
    if len(ages) and ages.min() < 0:
        raise DatasetError(f"{ds.name}: negative ages; the file is damaged")
    out = ds.subset(np.arange(len(ds)))
    out.labels = np.minimum(ages, len(AGE_LABELS) - 1)
    out.label_names = list(AGE_LABELS)
    out.soft = age_targets(ages)
    return out
