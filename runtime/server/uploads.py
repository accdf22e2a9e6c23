"""An uploaded image, read and decoded with limits: the body's size while it arrives, the
pixel count from the header before anything is decoded (a decompression bomb never reaches
the decoder), the format from the bytes, never from a name. Every refusal is an
:class:`UploadError` with its HTTP status and a message saying what to send instead."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import cv2
import numpy as np

# Pillow only reads the header (size, format) and proves the data complete; the pixels come
# from OpenCV, the decoder the CLI and the API use, so a still is the same frame everywhere.
from PIL import Image, UnidentifiedImageError


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int
    timeout: float  # seconds between two chunks of the body


async def read_body(chunks: AsyncIterator[bytes], declared: int | None, limits: Limits) -> bytes:
    """The whole body, refused as soon as it (or its Content-Length) passes the limit, or when
    the client stops sending for ``limits.timeout`` seconds."""
    mb = limits.max_bytes / 2**20
    if declared is not None and declared > limits.max_bytes:
        raise UploadError(
            413, f"the body is {declared:,} bytes, over the limit of {mb:g} MB (--max-upload-mb)"
        )
    data = bytearray()
    it = chunks.__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(it.__anext__(), limits.timeout)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise UploadError(
                408, f"the upload stalled for {limits.timeout:g} s; send the whole image at once"
            ) from None
        data += chunk
        if len(data) > limits.max_bytes:
            raise UploadError(413, f"the body is over the limit of {mb:g} MB (--max-upload-mb)")
    return bytes(data)


def image_bytes(body: bytes, content_type: str) -> bytes:
    """The image in a raw body, or in the first file part of a multipart/form-data body."""
    if not body:
        raise UploadError(
            400, "the body is empty; send an image (JPEG, PNG, ...) as the body or as a form file"
        )
    if not content_type.lower().startswith("multipart/"):
        return body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not msg.is_multipart():
        raise UploadError(
            400, "a multipart body that cannot be read; check its boundary, or send the image raw"
        )
    parts = list(msg.iter_parts())
    named = [p for p in parts if p.get_param("name", header="content-disposition") in ("image", "file")]
    for part in [p for p in parts if p.get_filename()] + named:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            return payload
    raise UploadError(
        400, "the form has no file part; send the image as a form file (e.g. curl -F image=@face.jpg)"
    )


def decode_image(data: bytes, limits: Limits) -> np.ndarray:
    """A BGR uint8 frame from an encoded image, decoded exactly as the CLI reads a file
    (OpenCV, colour: greyscale and 16-bit images become 8-bit BGR)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > limits.max_pixels:
                raise UploadError(
                    413,
                    f"the image is {w}x{h} ({w * h / 1e6:.1f} MP), over the limit of "
                    f"{limits.max_pixels / 1e6:g} MP (--max-pixels); send a smaller image",
                )
            fmt = im.format
            im.load()  # proves the data complete: a truncated file raises here
    except UploadError:
        raise
    except Image.DecompressionBombError:  # Pillow's own bound, past any --max-pixels it allows
        raise UploadError(
            413,
            f"the image is over the limit of {limits.max_pixels / 1e6:g} MP (--max-pixels); "
            "send a smaller image",
        ) from None
    except UnidentifiedImageError:
        raise UploadError(415, "the body is not an image (JPEG, PNG, BMP, WebP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UploadError(400, f"the image data is truncated or corrupt ({e}); send the whole file") from None
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise UploadError(415, f"a {fmt} image that OpenCV cannot decode; convert it to JPEG or PNG")
    return frame
