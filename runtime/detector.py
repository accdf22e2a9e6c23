"""Face detectors by name: the registry the options, the engine and the tools open them from.

A new detector is a module implementing :class:`runtime.detection.Detector` and one line in
``DETECTORS`` (or, from outside the package, :func:`register_detector`). Its name is what
``--detector`` takes and the key of the crop rules a model card measured against it.
"""

from __future__ import annotations

from collections.abc import Callable

from .detection import Detector, DetectorError


def _blazeface(variant: str) -> Callable[[float], Detector]:
    def make(min_score: float) -> Detector:
        from .blazeface import BlazeFace  # MediaPipe and OpenCV load when a detector opens

        return BlazeFace(variant, min_score)

    return make


# name -> factory(min_score) -> Detector
DETECTORS: dict[str, Callable[[float], Detector]] = {
    "short": _blazeface("short"),  # BlazeFace short-range: faces within ~2 m
    "full": _blazeface("full"),  # BlazeFace full-range (sparse): farther, smaller faces
}


def detector_names() -> tuple[str, ...]:
    return tuple(DETECTORS)


def register_detector(name: str, factory: Callable[[float], Detector]) -> None:
    """Make ``factory`` (min_score -> Detector) available as ``--detector name``."""
    if not name.isidentifier():
        raise ValueError(f"detector name {name!r} must be a plain name such as short or full")
    DETECTORS[name] = factory


def open_detector(name: str, min_score: float = 0.5) -> Detector:
    """The detector registered as ``name``, ready to use (close it, or use it in ``with``)."""
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose {', '.join(DETECTORS)}")
    return DETECTORS[name](min_score)
