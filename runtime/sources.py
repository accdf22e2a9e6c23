"""Open any input: camera index, video file, image, folder of images, stream URL, or the demo.

Every source yields ``Frame`` records (BGR uint8, as OpenCV reads) with an index and a
timestamp, so the rest of the pipeline never asks where a frame came from.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")
ASSETS = Path(__file__).resolve().parent / "assets"


class SourceError(RuntimeError):
    """A source cannot be opened or stops giving frames it should give."""


@dataclass
class Frame:
    index: int
    timestamp: float  # seconds: position in a file, or since the start for live sources
    image: np.ndarray  # (H, W, 3) BGR uint8
    file: str | None = None  # the image file this frame is (image and folder sources)


class Source:
    """Base class: subclasses implement ``frames``; ``close`` is always safe to call."""

    name: str = "source"
    fps: float | None = None  # nominal frame rate where known (files, demo)
    live: bool = False  # camera or stream: frames come in real time
    still: bool = False  # still images: detection may spend more per frame (tiling)
    note: str = ""  # set when the source ended early (truncated file, lost camera)

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CaptureSource(Source):
    """Anything cv2.VideoCapture opens: a camera index, a video file, a stream URL.

    A live source that stops delivering frames is reopened with exponential backoff, a
    bounded number of times, then ends cleanly; a file that stops decoding early (truncated,
    corrupt) ends with a note of how much of it was read.
    """

    def __init__(
        self,
        target: int | str,
        live: bool,
        reconnects: int = 5,
        backoff: float = 0.5,
        timeout_s: float = 10.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.target, self.live = target, live
        self.name = f"camera {target}" if isinstance(target, int) else str(target)
        self.reconnects, self.backoff, self.timeout_s = reconnects, backoff, timeout_s
        self.log = log or (lambda m: print(m, file=sys.stderr))
        self.note = ""  # how the source ended, when that is worth saying
        self.cap = self._open()
        if not self.cap.isOpened():
            self.cap.release()
            if isinstance(target, int):
                raise SourceError(
                    f"camera {target} cannot be opened; check that it is connected "
                    f"and free, or pass --source FILE"
                )
            what = "stream (no answer within the timeout?)" if live else "file as video"
            raise SourceError(
                f"{target}: OpenCV cannot open this {what}; check the path or URL and the format"
            )
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and math.isfinite(fps) and 0 < fps < 1000 else None

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.target, str) and self.live:  # bounded waits on a silent server
            ms = int(self.timeout_s * 1000)
            return cv2.VideoCapture(
                self.target,
                cv2.CAP_FFMPEG,
                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms],
            )
        return cv2.VideoCapture(self.target)

    def _reconnect(self) -> bool:
        for attempt in range(1, self.reconnects + 1):
            wait = self.backoff * 2 ** (attempt - 1)
            self.log(
                f"{self.name} stopped delivering frames; reconnecting in {wait:.1f} s "
                f"(attempt {attempt}/{self.reconnects})"
            )
            time.sleep(wait)
            self.cap.release()
            self.cap = self._open()
            if self.cap.isOpened():
                return True
        self.note = f"{self.name} did not come back after {self.reconnects} attempts"
        return False

    def frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        index = 0
        while True:
            ok, image = self.cap.read()
            if not ok or image is None:
                if self.live and index > 0 and self._reconnect():
                    continue
                if index == 0:
                    raise SourceError(
                        f"{self.name}: no frame could be read; it is empty, not a "
                        f"video, or the device is busy"
                    )
                expected = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
                if not self.live and expected > index + 1:
                    self.note = (
                        f"{self.name}: decoded {index} of {expected} frames; the rest "
                        f"is unreadable (truncated or corrupt file)"
                    )
                return
            if self.live or not self.fps:
                ts = time.monotonic() - start
            else:
                ts = index / self.fps
            yield Frame(index, ts, _bgr(image))
            index += 1

    def close(self) -> None:
        self.cap.release()


class LatestFrameSource(Source):
    """Reads a live source on its own thread and hands over only the newest frame.

    A camera keeps producing while a slow frame is processed; reading in step would queue
    those frames in the driver and the picture would lag further behind with every slow
    frame. Here stale frames are dropped (and counted) instead.
    """

    def __init__(self, inner: Source) -> None:
        self.inner, self.name, self.fps, self.live = inner, inner.name, inner.fps, True
        self.dropped = 0
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._done = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def note(self) -> str:  # type: ignore[override]
        return self.inner.note

    def _reader(self) -> None:
        try:
            for frame in self.inner.frames():
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = frame
                    self._cond.notify()
                if self._stop.is_set():
                    break
        except BaseException as e:
            self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify()

    def frames(self) -> Iterator[Frame]:
        self._thread = threading.Thread(target=self._reader, name="capture", daemon=True)
        self._thread.start()
        while True:
            with self._cond:
                while self._latest is None and not self._done:
                    self._cond.wait()
                frame, self._latest = self._latest, None
                if frame is None:  # done and nothing left
                    if self._error is not None:
                        raise self._error
                    return
            yield frame

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.inner.close()


def read_image(path: Path | str) -> np.ndarray:
    """One image file as a BGR frame (folders and the Python API read stills this way)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{path}: not an image OpenCV can read; check the path, or convert the file")
    return image


class ImageFilesSource(Source):
    """One image, or every image in a folder (sorted by name), each once."""

    still = True

    def __init__(self, paths: list[Path], name: str) -> None:
        if not paths:
            raise SourceError(f"{name}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found")
        self.paths, self.name = paths, name

    def frames(self) -> Iterator[Frame]:
        for i, p in enumerate(self.paths):
            image = read_image(p)
            yield Frame(i, float(i), image, str(p))


class PicameraSource(Source):
    """A Raspberry Pi camera through Picamera2/libcamera (the optional ``picamera2`` package:
    ``sudo apt install python3-picamera2``, venv made with ``--system-site-packages``)."""

    name = "picamera2"
    live = True

    def __init__(self, size: tuple[int, int] = (640, 480), fps: float = 30.0) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as e:
            raise SourceError(
                "picamera2 is not installed: on a Pi, 'sudo apt install "
                "python3-picamera2' and a venv with --system-site-packages, or "
                "use --source 0 (V4L2)"
            ) from e
        try:
            self.cam = Picamera2()
            # "RGB888" is stored B, G, R in memory: what OpenCV calls BGR.
            config = self.cam.create_video_configuration(
                main={"size": size, "format": "RGB888"}, controls={"FrameRate": fps}
            )
            self.cam.configure(config)
            self.cam.start()
        except (RuntimeError, IndexError, OSError) as e:
            raise SourceError(
                f"the Pi camera cannot be started ({e}); check the ribbon cable "
                f"and 'rpicam-hello --list-cameras'"
            ) from e
        self.fps = fps

    def frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        index = 0
        while True:
            image = self.cam.capture_array("main")
            yield Frame(index, time.monotonic() - start, np.ascontiguousarray(image[:, :, :3]))
            index += 1

    def close(self) -> None:
        self.cam.stop()
        self.cam.close()


def picamera_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("picamera2") is not None


class DemoSource(Source):
    """A real face (NASA's astronaut portrait, from scikit-image) slowly panned and zoomed:
    a moving, changing clip that needs no camera and no download."""

    name = "demo (astronaut, scikit-image)"

    def __init__(self, frames: int = 240, fps: float = 30.0, size: tuple[int, int] = (640, 480)) -> None:
        path = ASSETS / "astronaut.png"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{path} is missing; run 'make setup-runtime' to fetch the demo image")
        self.image, self.n, self.size = image, frames, size
        self.rate = fps
        self.fps = fps

    def frames(self) -> Iterator[Frame]:
        h, w = self.image.shape[:2]
        out_w, out_h = self.size
        for i in range(self.n):
            t = i / self.rate
            zoom = 1.15 + 0.15 * math.sin(2 * math.pi * t / 6)  # the face grows and shrinks
            angle = 6 * math.sin(2 * math.pi * t / 5)  # and tilts a little
            cx = w * (0.45 + 0.05 * math.sin(2 * math.pi * t / 7))
            cy = h * 0.40
            m = cv2.getRotationMatrix2D((cx, cy), angle, zoom * out_h / h)
            m[0, 2] += out_w / 2 - cx
            m[1, 2] += out_h / 2 - cy
            frame = cv2.warpAffine(self.image, m, (out_w, out_h), borderMode=cv2.BORDER_REFLECT)
            yield Frame(i, t, frame)


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def open_source(spec: str | None, fallback_to_demo: bool = False) -> Source:
    """``spec``: camera index, file, folder, URL, ``picamera`` or ``demo``. None means the Pi
    camera where Picamera2 is installed, else camera 0 (V4L2 on Linux); with
    ``fallback_to_demo``, the demo clip when no camera can be opened."""
    if spec == "picamera" or (spec is None and picamera_available()):
        return LatestFrameSource(PicameraSource())
    if spec is None:
        try:
            return LatestFrameSource(CaptureSource(0, live=True))
        except SourceError:
            if not fallback_to_demo:
                raise
            return DemoSource()
    if spec == "demo":
        return DemoSource()
    if spec.isdigit():
        return LatestFrameSource(CaptureSource(int(spec), live=True))
    if spec.lower().startswith(STREAM_PREFIXES):
        return LatestFrameSource(CaptureSource(spec, live=True))
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        return ImageFilesSource(files, str(path))
    if not path.exists():
        raise SourceError(
            f"{path}: no such file or folder; give a camera index, a video, an "
            f"image, a folder of images or a stream URL"
        )
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageFilesSource([path], str(path))
    return CaptureSource(str(path), live=False)
