"""Drawing the results on the frame: box, emotion, gender, track ID, FPS."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from runtime.records import FrameResult

EMOTION_COLOURS = {  # BGR
    "angry": (40, 40, 220), "disgust": (40, 140, 40), "fear": (160, 60, 160),
    "happy": (40, 200, 240), "sad": (200, 120, 40), "surprise": (40, 160, 255),
    "neutral": (200, 200, 200),
}
FONT = cv2.FONT_HERSHEY_SIMPLEX


@lru_cache(maxsize=2048)
def _text_size(text: str, scale: float) -> tuple[tuple[int, int], int]:
    """Labels come from a small set ("happy 87%"): measure each once, not every frame."""
    return cv2.getTextSize(text, FONT, scale, 1)


def _label(img: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> int:
    """A filled tag with text; returns the y of the next line below it."""
    scale = max(0.4, min(0.8, img.shape[0] / 900))
    (tw, th), base = _text_size(text, scale)
    y = max(th + 4, y)
    cv2.rectangle(img, (x, y - th - 4), (x + tw + 4, y + base), colour, -1)
    cv2.putText(img, text, (x + 2, y - 2), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return y + th + base + 4


def draw(img: np.ndarray, result: FrameResult) -> np.ndarray:
    """Draw in place (the frame is ours to annotate) and return it."""
    for face in result.faces:
        b = face.box
        emo = face.predictions.get("emotion")
        colour = EMOTION_COLOURS.get(emo.label, (0, 255, 0)) if emo else (0, 255, 0)
        cv2.rectangle(img, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, 2)
        lines = [f"#{face.track_id}"]
        if emo:
            lines.append(f"{emo.label} {emo.confidence:.0%}")
        gen = face.predictions.get("gender")
        if gen:
            lines.append(f"{gen.label} {gen.confidence:.0%}")
        y = b.y + b.h + 18
        for text in lines:
            y = _label(img, text, b.x, y, colour)
    _label(img, f"{result.fps:.1f} FPS  {len(result.faces)} face(s)", 4, 20, (255, 255, 255))
    return img
