"""Drawing the results on the frame: box, track ID, one line per task, FPS."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .geometry import Box
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


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1


def _label(img: np.ndarray, text: str, x: int, top: int, colour: tuple[int, int, int]) -> None:
    """A filled tag with text, its top-left corner at (x, top), moved inside the frame."""
    scale = _scale(img)
    (_, th), _ = _text_size(text, scale)
    w, h = _tag_size(text, scale)
    x = min(max(0, x), max(0, img.shape[1] - w))
    top = min(max(0, top), max(0, img.shape[0] - h))
    cv2.rectangle(img, (x, top), (x + w, top + h), colour, -1)
    cv2.putText(img, text, (x + 2, top + th + 2), FONT, scale, (0, 0, 0), _thickness(scale), cv2.LINE_AA)


def draw(img: np.ndarray, result: FrameResult) -> np.ndarray:
    """Draw in place (the frame is ours to annotate) and return it. Boxes first, then each
    face's tags where they cover no other face's tags (crowds, faces at the frame edge)."""
    thick = 2 * _thickness(_scale(img))
    faces = []
    for face in result.faces:
        b = face.box
        labels = (p.label for p in face.predictions.values())
        colour = next((LABEL_COLOURS[x] for x in labels if x in LABEL_COLOURS), (0, 255, 0))
        cv2.rectangle(img, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, thick)
        faces.append((face, colour))
    taken: list[Rect] = []
    for face, colour in faces:
        lines = [f"#{face.track_id}", *(p.text for p in face.predictions.values())]
        x, tops = place_tags(img, lines, face.box, taken)
        for text, top in zip(lines, tops):
            _label(img, text, x, top, colour)
    _label(img, status_text(result), 4, 4, (255, 255, 255))
    return img


def status_text(result: FrameResult) -> str:
    """The frame's corner line. A still has no frame rate, and the first frame of a video
    none measured yet: neither shows "0.0 FPS"."""
    rate = f"{result.fps:.1f} FPS  " if result.fps > 0 and result.file is None else ""
    return f"{rate}{len(result.faces)} face(s)"


def _overlap(a: Rect, b: Rect) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def place_tags(img: np.ndarray, lines: list[str], box: Box, taken: list[Rect]) -> tuple[int, list[int]]:
    """Where a face's tags go (their left edge and each line's top), and the block added to
    ``taken``. Tried in turn: below the box, above it, inside its top, inside its bottom, to
    its right, to its left, each moved inside the frame; the first that covers no tag
    already drawn wins, else the one that covers least (then the one moved least)."""
    scale = _scale(img)
    sizes = [_tag_size(text, scale) for text in lines]
    w, h = max(s[0] for s in sizes), sum(s[1] for s in sizes)
    ih, iw = img.shape[:2]
    gap = 2
    b = box
    wanted = [
        (b.x, b.y + b.h + gap),
        (b.x, b.y - gap - h),
        (b.x, b.y),
        (b.x, b.y + b.h - h),
        (b.x + b.w + gap, b.y),
        (b.x - gap - w, b.y),
    ]
    best = None
    for order, (x, top) in enumerate(wanted):
        cx, ct = min(max(0, x), max(0, iw - w)), min(max(0, top), max(0, ih - h))
        rect = (cx, ct, cx + w, ct + h)
        key = (sum(_overlap(rect, r) for r in taken), abs(cx - x) + abs(ct - top), order)
        if best is None or key < best[0]:
            best = (key, rect)
        if key[:2] == (0, 0):
            break
    assert best is not None
    rect = best[1]
    taken.append(rect)
    tops, top = [], rect[1]
    for _, th in sizes:
        tops.append(top)
        top += th
    return rect[0], tops
