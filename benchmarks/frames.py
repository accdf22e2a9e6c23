"""The frames a benchmark runs on, decoded once up front so decoding never pollutes the timings.

By default they are built from a real face that a dependency ships (NASA's astronaut
portrait from scikit-image, fetched at set-up): the demo clip's slow pan and zoom for one
face, and grids of the portrait, each cell drifting a little, for several faces.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from runtime.sources import ASSETS, DemoSource, SourceError, open_source


@dataclass
class FrameSet:
    name: str
    frames: list[np.ndarray]
    faces: int | None  # faces composed into each frame (None: a real clip, unknown)
    decode_ms: list[float] = field(default_factory=list)  # per frame, for --source files

    @property
    def resolution(self) -> str:
        h, w = self.frames[0].shape[:2]
        return f"{w}x{h}"


def _portrait() -> np.ndarray:
    image = cv2.imread(str(ASSETS / "astronaut.png"))
    if image is None:
        raise SourceError(f"{ASSETS / 'astronaut.png'} is missing; run 'make setup-runtime'")
    return image[20:250, 140:370]  # the face with a little hair and neck, as a webcam sees it


def demo_frames(n: int, size: tuple[int, int]) -> FrameSet:
    src = DemoSource(frames=n, size=size)
    return FrameSet(f"demo {size[0]}x{size[1]}, 1 face", [f.image for f in src.frames()], 1)


def grid_frames(n: int, size: tuple[int, int], faces: int) -> FrameSet:
    """``faces`` portraits on a grid (as square as it gets), each drifting slowly."""
    w, h = size
    cols = math.ceil(math.sqrt(faces))
    rows = math.ceil(faces / cols)
    cell_w, cell_h = w // cols, h // rows
    portrait = _portrait()
    side = int(min(cell_w, cell_h) * 0.85)
    chip = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        frame = np.full((h, w, 3), 110, np.uint8)
        for k in range(faces):
            r, c = divmod(k, cols)
            dx = int((cell_w - side) / 2 + 0.06 * side * math.sin(2 * math.pi * (i / 90 + k / faces)))
            dy = int((cell_h - side) / 2 + 0.04 * side * math.cos(2 * math.pi * (i / 70 + k / faces)))
            x, y = c * cell_w + max(0, dx), r * cell_h + max(0, dy)
            frame[y : y + side, x : x + side] = chip[: h - y, : w - x]
        frames.append(frame)
    return FrameSet(f"grid {w}x{h}, {faces} faces", frames, faces)


def composed_frames(n: int, size: tuple[int, int], faces: int) -> FrameSet:
    return demo_frames(n, size) if faces == 1 else grid_frames(n, size, faces)


def decoded_frames(source: str, n: int) -> FrameSet:
    """Up to ``n`` frames of a file or folder, decoded now, with each decode timed."""
    frames, decode = [], []
    with open_source(source) as src:
        it = iter(src.frames())
        while len(frames) < n:
            t0 = time.perf_counter()
            frame = next(it, None)
            if frame is None:
                break
            decode.append(1000 * (time.perf_counter() - t0))
            frames.append(frame.image)
    if not frames:
        raise SourceError(f"{source}: no frames")
    return FrameSet(f"{source}", frames, None, decode)
