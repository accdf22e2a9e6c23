"""Where results go: a window, an annotated video, JSON lines. All close cleanly on any exit.

Every sink is a context manager, and the pipeline opens them in an ExitStack, so an
error or Ctrl-C mid-run still leaves a playable video and complete JSON lines.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import sys
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .card import atomic_write_bytes
from .records import FrameResult
from .seen import SeenLog
from .sources import IMAGE_EXTENSIONS, ImageFilesSource, Source

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".avi")


class SinkError(RuntimeError):
    """An output cannot be opened or written."""


def display_available() -> bool:
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    return True


class JsonLinesSink:
    """One JSON object per face per frame, each line written whole and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.file = open(self.path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - the sink's lifetime
        except OSError as e:
            raise SinkError(
                f"cannot write {self.path}: {e.strerror}; check the folder exists and is writable"
            ) from e
        self.lines = 0

    def write(self, result: FrameResult) -> None:
        for rec in result.records():
            try:
                self.file.write(json.dumps(rec, separators=(",", ":")) + "\n")
            except OSError as e:
                raise SinkError(
                    f"cannot write {self.path}: {e.strerror} (disk full?); the lines "
                    f"written so far are complete"
                ) from e
            self.lines += 1

    def close(self) -> None:
        if self.file.closed:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EROFS):  # fsync of a pipe or device
                raise SinkError(
                    f"cannot finish {self.path}: {e.strerror} (disk full?); the "
                    f"lines before the last are complete"
                ) from e
        finally:
            with suppress(OSError):  # the buffer that failed above; nothing more can be saved
                self.file.close()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _confidence(value: float | None) -> str:
    """A csv cell: three decimals, or empty for a task without one (a regression)."""
    return "" if value is None else f"{value:.3f}"


class PerImageSink:
    """One row per image of an image or folder source: its file, its face count, and per
    face the box and labels. ``.json`` holds the full records; ``.csv`` one line per image
    with the faces' boxes and labels as ';'-separated lists (pandas and spreadsheets read
    it). Written whole, through a temporary file, when the run ends (also on Ctrl-C)."""

    def __init__(self, path: Path, tasks: tuple[str, ...]) -> None:
        self.path, self.tasks = Path(path), tuple(tasks)
        if self.path.suffix.lower() not in (".csv", ".json"):
            raise SinkError(f"--per-image {self.path}: name a .csv or .json file")
        if not self.path.parent.is_dir():
            raise SinkError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        self.rows: list[dict] = []

    def write(self, result: FrameResult) -> None:
        if result.file is not None:
            self.rows.append(result.image_row())

    def _csv(self) -> bytes:
        tasks = self.tasks  # the columns, even when no image had a face
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["file", "faces", "boxes", *[c for t in tasks for c in (t, f"{t}_confidence")]])
        for r in self.rows:
            faces = r["faces"]
            cols = [";".join(f[t]["label"] for f in faces) if faces else "" for t in tasks]
            confs = [";".join(_confidence(f[t]["confidence"]) for f in faces) for t in tasks]
            w.writerow(
                [
                    r["file"],
                    len(faces),
                    ";".join(" ".join(map(str, f["box"])) for f in faces),
                    *[v for pair in zip(cols, confs) for v in pair],
                ]
            )
        return out.getvalue().encode()

    def close(self) -> None:
        from .card import atomic_write_bytes

        data = (
            self._csv()
            if self.path.suffix.lower() == ".csv"
            else (json.dumps(self.rows, indent=1) + "\n").encode()
        )
        try:
            atomic_write_bytes(self.path, data)
        except OSError as e:
            raise SinkError(f"cannot write {self.path}: {e.strerror}") from e

    def __enter__(self) -> PerImageSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoSink:
    """The annotated frames as a video (MPEG-4 Part 2 in .mp4, readable everywhere)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        if not self.path.parent.is_dir():
            raise SinkError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        if not os.access(self.path.parent, os.W_OK) or (
            self.path.exists() and not os.access(self.path, os.W_OK)
        ):
            raise SinkError(f"cannot write {self.path}: permission denied; choose another --output")
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self.pad = (0, 0)
        self.frames = 0

    def write(self, image: np.ndarray, file: str | None = None) -> None:
        if self.writer is None:
            h, w = image.shape[:2]
            self.size = (w, h)
            # MPEG-4 needs even sides: pad a replicated edge rather than lose a pixel row.
            self.pad = (w % 2, h % 2)
            fourcc = cv2.VideoWriter.fourcc(
                *("mp4v" if self.path.suffix.lower() in (".mp4", ".m4v") else "MJPG")
            )
            self.writer = cv2.VideoWriter(
                str(self.path), fourcc, self.fps, (w + self.pad[0], h + self.pad[1])
            )
            if not self.writer.isOpened():
                raise SinkError(f"cannot write video {self.path}; use a .mp4 or .avi name")
        if (image.shape[1], image.shape[0]) != self.size:  # a stream changed size mid-run:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)  # keep the video
        if any(self.pad):
            image = cv2.copyMakeBorder(image, 0, self.pad[1], 0, self.pad[0], cv2.BORDER_REPLICATE)
        self.writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageSink:
    """Annotated stills as images, in the format their name says: one file for one image, or
    each image of a folder under its own name in an output folder. Each file is written to a
    temporary name and renamed, so a stopped run never leaves half an image."""

    def __init__(self, path: Path, folder: bool) -> None:
        self.path, self.folder = Path(path), folder
        parent = self.path.parent
        if not parent.is_dir():
            raise SinkError(f"cannot write {self.path}: folder {parent} does not exist")
        if folder:
            try:
                self.path.mkdir(exist_ok=True)
            except OSError as e:
                raise SinkError(f"cannot make the output folder {self.path}: {e.strerror}") from e
        target = self.path if folder else parent
        if not os.access(target, os.W_OK):
            raise SinkError(f"cannot write {self.path}: permission denied; choose another --output")
        self.frames = 0

    def write(self, image: np.ndarray, file: str | None = None) -> None:
        out = self.path / Path(file or f"frame{self.frames:06d}.png").name if self.folder else self.path
        ok, data = cv2.imencode(out.suffix.lower(), image)
        if not ok:
            raise SinkError(f"cannot encode {out.name} as {out.suffix}; use .png or .jpg")
        try:
            atomic_write_bytes(out, data.tobytes())
        except OSError as e:
            raise SinkError(f"cannot write {out}: {e.strerror} (disk full?)") from e
        self.frames += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> ImageSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def annotated_sink(path: Path, source: Source) -> VideoSink | ImageSink:
    """The --output the user asked for: an image for an image, a folder of images for a
    folder, a video for a video (or, on request, a video of a folder's images)."""
    path = Path(path)
    suffix = path.suffix.lower()
    images = len(source.paths) if isinstance(source, ImageFilesSource) else None
    kinds = (
        f"an image ({', '.join(sorted(IMAGE_EXTENSIONS))}) for one image, a folder for a "
        f"folder of images, a video ({', '.join(VIDEO_EXTENSIONS)}) for anything"
    )
    if suffix in VIDEO_EXTENSIONS:
        return VideoSink(path, source.fps or 15.0)
    if suffix in IMAGE_EXTENSIONS:
        if images != 1:
            what = f"{images} images" if images else source.name
            raise SinkError(
                f"--output {path} is one image but the source is {what}; give "
                f"a folder or a video name instead"
            )
        return ImageSink(path, folder=False)
    if suffix == "" or path.is_dir():
        if images is None:
            raise SinkError(
                f"--output {path} is a folder but the source is a video or camera; "
                f"give a video name such as out.mp4"
            )
        return ImageSink(path, folder=True)
    raise SinkError(f"--output {path}: unknown kind of file {suffix!r}; give {kinds}")


class WindowSink:
    """An OpenCV window; q or Esc asks the pipeline to stop."""

    def __init__(self, title: str = "edge-face") -> None:
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as e:
            raise SinkError("no display to open a window on; pass --no-show") from e

    def show(self, image: np.ndarray) -> bool:
        cv2.imshow(self.title, image)
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        with suppress(cv2.error):
            cv2.destroyWindow(self.title)

    def __enter__(self) -> WindowSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Outputs:
    """Every output of a run, opened together (each closed by the caller's ExitStack) and
    written together, frame by frame; ``seen`` keeps what the run saw for its summary."""

    json: JsonLinesSink | None = None
    frames: VideoSink | ImageSink | None = None
    window: WindowSink | None = None
    per_image: PerImageSink | None = None
    seen: SeenLog = field(default_factory=SeenLog)

    @classmethod
    def open(
        cls,
        stack: ExitStack,
        source: Source,
        json: Path | None,
        output: Path | None,
        show: bool,
        per_image: Path | None,
        tasks: tuple[str, ...],
    ) -> Outputs:
        if per_image and not source.still:
            raise ValueError(
                f"--per-image needs an image or a folder of images as --source, not {source.name}"
            )
        out = cls()
        if json:
            out.json = stack.enter_context(JsonLinesSink(json))
        if output:
            out.frames = annotated_sink(output, source)
            stack.callback(out.frames.close)
        if show:
            out.window = stack.enter_context(WindowSink())
        if per_image:
            out.per_image = stack.enter_context(PerImageSink(per_image, tasks))
        return out

    @property
    def draws(self) -> bool:
        """Whether anyone looks at the frame (a window or an annotated file)."""
        return self.window is not None or self.frames is not None

    def write(self, image: np.ndarray, result: FrameResult) -> bool:
        """Write one frame's results everywhere; False once the window asks to stop."""
        if self.json:
            self.json.write(result)
        if self.per_image:
            self.per_image.write(result)
        self.seen.add(result)
        if self.frames:
            self.frames.write(image, result.file)
        return self.window.show(image) if self.window else True
