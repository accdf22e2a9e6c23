"""The one path from an image (and a face box) to a model input tensor.

Training, export calibration and the edge runtime all call these functions, so a
face is cropped, resized, coloured and normalised identically everywhere. Only
numpy and OpenCV are used: the runtime must not pull TensorFlow in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import cv2
import numpy as np

from .geometry import Box as Box  # re-exported: its home is runtime.geometry

Colour = Literal["gray", "rgb"]
ChannelOrder = Literal["gray", "rgb", "bgr", "bgra", "rgba"]


@dataclass(frozen=True)
class Normalization:
    """model_input = pixel * scale + offset, pixel being the uint8 value (0..255)."""

    scale: float
    offset: float

    @classmethod
    def minus_one_to_one(cls) -> Normalization:
        """The reference demo's x/255 then (x-0.5)*2, written as one affine map."""
        return cls(scale=2.0 / 255.0, offset=-1.0)


@dataclass(frozen=True)
class CropRule:
    """How a detector box becomes the crop a model was trained on.

    The crop is a rectangle centred on the box centre, shifted down by ``shift_y``
    box heights, of width ``box.w * scale_x`` and height ``box.h * scale_y``; with
    ``square`` the larger side wins, so faces keep their aspect ratio. Parts that
    fall outside the frame are filled by replicating the border, which keeps the
    face where training put it instead of stretching it.
    """

    scale_x: float = 1.0
    scale_y: float = 1.0
    shift_y: float = 0.0
    square: bool = True
    framing: str = "detector box"  # what the training images looked like, in words
    calibrated: bool = False  # True once measured against the detector on training images


@dataclass(frozen=True)
class InputSpec:
    """Everything a consumer needs to build a model's input; stored in the model card."""

    height: int
    width: int
    channels: int
    colour: Colour
    normalization: Normalization
    crop: CropRule = field(default_factory=CropRule)

    def __post_init__(self) -> None:
        if self.colour not in ("gray", "rgb"):
            raise ValueError(f"colour must be 'gray' or 'rgb', not {self.colour!r}")
        expected = 1 if self.colour == "gray" else 3
        if self.channels != expected:
            raise ValueError(f"{self.colour} input needs {expected} channel(s), not {self.channels}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"input size must be positive, not {self.height}x{self.width}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> InputSpec:
        return cls(
            height=int(d["height"]),
            width=int(d["width"]),
            channels=int(d["channels"]),
            colour=d["colour"],
            normalization=Normalization(**d["normalization"]),
            crop=CropRule(**d.get("crop", {})),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)


def expand_box(box: Box, rule: CropRule) -> Box:
    """Apply a crop rule to a detector box; the result may lie partly outside the frame."""
    cx = box.x + box.w / 2.0
    cy = box.y + box.h / 2.0 + rule.shift_y * box.h
    w = max(1.0, box.w * rule.scale_x)
    h = max(1.0, box.h * rule.scale_y)
    if rule.square:
        w = h = max(w, h)
    x0 = int(round(cx - w / 2.0))
    y0 = int(round(cy - h / 2.0))
    return Box(x0, y0, max(1, int(round(w))), max(1, int(round(h))))


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """Cut ``box`` out of ``image``, replicating the border where the box leaves the frame."""
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"cannot crop an image of shape {image.shape}")
    ih, iw = image.shape[:2]
    x0, y0, x1, y1 = box.x, box.y, box.x + box.w, box.y + box.h
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(iw, x1), min(ih, y1)
    if cx0 >= cx1 or cy0 >= cy1:
        # Box entirely outside: nearest edge pixel, replicated, is the least-bad answer.
        cx0 = min(max(x0, 0), iw - 1)
        cy0 = min(max(y0, 0), ih - 1)
        cx1, cy1 = cx0 + 1, cy0 + 1
    inner = image[cy0:cy1, cx0:cx1]
    pad = (cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1)
    if any(pad):
        top, bottom, left, right = (max(0, p) for p in pad)
        inner = cv2.copyMakeBorder(inner, top, bottom, left, right, cv2.BORDER_REPLICATE)
        inner = inner[: box.h, : box.w]
    return inner


def applied_rolls(rolls: list[float], min_roll: float) -> list[float]:
    """The rolls worth turning a face by: those of at least ``min_roll`` degrees; smaller
    ones are within the keypoints' noise and become 0 (the plain crop)."""
    return [r if abs(r) >= min_roll else 0.0 for r in rolls]


def upright_crop(image: np.ndarray, face: Box, rule: CropRule, roll: float) -> np.ndarray:
    """The crop of ``face`` (by ``rule``) from the image rotated by ``roll`` degrees about the
    face centre, so a tilted head comes out upright as the training faces are. The crop box
    is laid out in the upright frame, so ``shift_y`` moves along the face's own vertical."""
    box = expand_box(face, rule)
    if not roll:
        return crop(image, box)
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"cannot crop an image of shape {image.shape}")
    centre = (face.x + face.w / 2.0, face.y + face.h / 2.0)
    m = cv2.getRotationMatrix2D(centre, roll, 1.0)
    m[0, 2] -= box.x
    m[1, 2] -= box.y
    out = cv2.warpAffine(image, m, (box.w, box.h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Bring any supported pixel type to uint8 (16-bit and float images come from real files)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        img = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        scale = 255.0 if img.size and float(img.max()) <= 1.0 else 1.0
        return np.clip(img * scale, 0, 255).astype(np.uint8)
    if np.issubdtype(image.dtype, np.integer) or image.dtype == np.bool_:
        return np.clip(image.astype(np.int64), 0, 255).astype(np.uint8)
    raise ValueError(f"unsupported pixel type {image.dtype}")


def to_colour(image: np.ndarray, colour: Colour, order: ChannelOrder) -> np.ndarray:
    """Convert an image whose channels are in ``order`` to the model's colour, keeping HxWxC."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        order = "gray"
    channels = {"gray": 1, "rgb": 3, "bgr": 3, "bgra": 4, "rgba": 4}[order]
    got = 1 if image.ndim == 2 else image.shape[2]
    if got != channels:
        raise ValueError(f"image has {got} channel(s) but channel order {order!r} needs {channels}")
    if colour == "gray":
        codes = {
            "rgb": cv2.COLOR_RGB2GRAY,
            "bgr": cv2.COLOR_BGR2GRAY,
            "rgba": cv2.COLOR_RGBA2GRAY,
            "bgra": cv2.COLOR_BGRA2GRAY,
        }
        out = image if order == "gray" else cv2.cvtColor(image, codes[order])
        return out[:, :, None]
    codes = {
        "gray": cv2.COLOR_GRAY2RGB,
        "bgr": cv2.COLOR_BGR2RGB,
        "rgba": cv2.COLOR_RGBA2RGB,
        "bgra": cv2.COLOR_BGRA2RGB,
    }
    return image if order == "rgb" else cv2.cvtColor(image, codes[order])


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), bilinear when enlarging."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    interp = cv2.INTER_AREA if h >= height and w >= width else cv2.INTER_LINEAR
    out = cv2.resize(image, (width, height), interpolation=interp)
    return out[:, :, None] if out.ndim == 2 else out


def normalize(image: np.ndarray, norm: Normalization, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 pixels to the float32 range the model was trained on."""
    if out is None:
        out = np.empty(image.shape, np.float32)
    np.multiply(image, np.float32(norm.scale), out=out, casting="unsafe")
    out += np.float32(norm.offset)
    return out


def prepare_crop(
    image: np.ndarray, spec: InputSpec, order: ChannelOrder, out: np.ndarray | None = None
) -> np.ndarray:
    """An already-cropped face (a dataset image) to one model input of shape spec.shape."""
    img = to_uint8(np.asarray(image))
    img = resize(to_colour(img, spec.colour, order), spec.height, spec.width)
    return normalize(img, spec.normalization, out)


def prepare_face(
    frame: np.ndarray,
    box: Box,
    spec: InputSpec,
    order: ChannelOrder = "bgr",
    out: np.ndarray | None = None,
    roll: float = 0.0,
) -> np.ndarray:
    """A frame and a detector box to one model input, via the model's crop rule; a non-zero
    ``roll`` (degrees, from the eye keypoints) turns the face upright first."""
    return prepare_crop(upright_crop(frame, box, spec.crop, roll), spec, order, out)


def prepare_batch(
    images: np.ndarray | list[np.ndarray], spec: InputSpec, order: ChannelOrder, out: np.ndarray | None = None
) -> np.ndarray:
    """Many already-cropped faces to a (N, H, W, C) float32 batch."""
    n = len(images)
    if out is None:
        out = np.empty((n, *spec.shape), np.float32)
    for i in range(n):
        prepare_crop(images[i], spec, order, out[i])
    return out
