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


def _centerface(min_score: float) -> Detector:
    from .centerface import CenterFace

    return CenterFace(min_score)


# name -> factory(min_score) -> Detector
DETECTORS: dict[str, Callable[[float], Detector]] = {
    "short": _blazeface("short"),  # BlazeFace short-range: faces within ~2 m
    "full": _blazeface("full"),  # BlazeFace full-range (sparse): farther, smaller faces
    "centerface": _centerface,  # CenterFace: cut, turned, hidden and crowded faces; ~30x slower
}
SECOND_FOR_STILLS = "centerface"  # what stills add to the video detector by default


def detector_names() -> tuple[str, ...]:
    return tuple(DETECTORS)


def register_detector(name: str, factory: Callable[[float], Detector]) -> None:
    """Make ``factory`` (min_score -> Detector) available as ``--detector name``."""
    if not name.isidentifier():
        raise ValueError(f"detector name {name!r} must be a plain name such as short or full")
    DETECTORS[name] = factory


def detector_sources(name: str) -> tuple[str, ...]:
    """The detectors whose boxes ``name`` reports (``first+second``: both, runtime/fused.py):
    a model needs a crop rule for each."""
    return tuple(name.split("+"))


def still_detector_name(video: str, still: str | None) -> str:
    """The stills' detector: as asked, or the video detector with CenterFace's extra faces."""
    if still:
        return still
    return video if SECOND_FOR_STILLS in detector_sources(video) else f"{video}+{SECOND_FOR_STILLS}"


def open_detector(name: str, min_score: float = 0.5) -> Detector:
    """The detector registered as ``name``, or ``first+second`` fused (runtime/fused.py), ready
    to use (close it, or use it in ``with``)."""
    parts = detector_sources(name)
    unknown = [p for p in parts if p not in DETECTORS]
    if unknown or len(parts) > 2:
        raise DetectorError(
            f"unknown detector {name!r}; choose {', '.join(DETECTORS)}, or two of them as first+second"
        )
    if len(parts) == 2:
        from .fused import Fused

        first = open_detector(parts[0], min_score)
        return Fused(name, first, open_detector(parts[1], min_score))
    return DETECTORS[name](min_score)
