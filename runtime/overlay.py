"""Drawing the results on the frame: box, track ID, one line per task, FPS."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .records import FrameResult

# A face's box and tags take the colour of the first of its labels listed here (BGR).
LABEL_COLOURS = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (40, 200, 240),
    "sad": (200, 120, 40),
    "surprise": (40, 160, 255),
    "neutral": (200, 200, 200),
}
FONT = cv2.FONT_HERSHEY_SIMPLEX


@lru_cache(maxsize=2048)
def _text_size(text: str, scale: float) -> tuple[tuple[int, int], int]:
    """Labels come from a small set ("happy 87%"): measure each once, not every frame."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, _thickness(scale))
    return (int(w), int(h)), int(base)


def _thickness(scale: float) -> int:
    return max(1, round(scale))


def _scale(img: np.ndarray) -> float:
    """Text grows with the picture, so a 24-megapixel photo's labels read like a webcam's."""
    return round(max(0.4, min(2.5, min(img.shape[:2]) / 900)), 2)


def _tag_size(text: str, scale: float) -> tuple[int, int]:
    """Width and height of a filled tag, padding included."""
    (tw, th), base = _text_size(text, scale)
    return tw + 4, th + base + 4


def _label(img: np.ndarray, text: str, x: int, top: int, colour: tuple[int, int, int]) -> int:
    """A filled tag with text, its top-left corner at (x, top), moved inside the frame;
    returns the top of the next line below it."""
    scale = _scale(img)
    (_, th), _ = _text_size(text, scale)
    w, h = _tag_size(text, scale)
    x = min(max(0, x), max(0, img.shape[1] - w))
    top = min(max(0, top), max(0, img.shape[0] - h))
    cv2.rectangle(img, (x, top), (x + w, top + h), colour, -1)
    cv2.putText(img, text, (x + 2, top + th + 2), FONT, scale, (0, 0, 0), _thickness(scale), cv2.LINE_AA)
    return top + h


def draw(img: np.ndarray, result: FrameResult) -> np.ndarray:
    """Draw in place (the frame is ours to annotate) and return it."""
    for face in result.faces:
        b = face.box
        labels = (p.label for p in face.predictions.values())
        colour = next((LABEL_COLOURS[x] for x in labels if x in LABEL_COLOURS), (0, 255, 0))
        cv2.rectangle(img, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, 2 * _thickness(_scale(img)))
        lines = [f"#{face.track_id}", *(p.text for p in face.predictions.values())]
        for text, top in zip(lines, _label_tops(img, lines, b.y, b.y + b.h)):
            _label(img, text, b.x, top, colour)
    _label(img, status_text(result), 4, 4, (255, 255, 255))
    return img


def status_text(result: FrameResult) -> str:
    """The frame's corner line. A still has no frame rate, and the first frame of a video
    none measured yet: neither shows "0.0 FPS"."""
    rate = f"{result.fps:.1f} FPS  " if result.fps > 0 and result.file is None else ""
    return f"{rate}{len(result.faces)} face(s)"


def _label_tops(img: np.ndarray, lines: list[str], box_top: int, box_bottom: int) -> list[int]:
    """Where each tag of a face goes: below its box, or above it when the box touches the
    bottom of the frame, or inside the frame's top when neither fits."""
    heights = [_tag_size(text, _scale(img))[1] for text in lines]
    total = sum(heights)
    gap = 2
    if box_bottom + gap + total <= img.shape[0]:
        start = box_bottom + gap
    elif box_top - gap - total >= 0:
        start = box_top - gap - total
    else:
        start = max(0, min(box_top, img.shape[0] - total))
    tops = []
    for h in heights:
        tops.append(start)
        start += h
    return tops
