"""What a batch is made of: the inputs its SOURCE arguments name, and where each one's outputs go."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from ..sinks import VIDEO_EXTENSIONS
from ..sources import IMAGE_EXTENSIONS

VIDEO_SUFFIXES = frozenset({*VIDEO_EXTENSIONS, ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv"})
OUTPUT_SUFFIX = ".jsonl"
SUMMARY_SUFFIX = ".summary.json"


class InputError(ValueError):
    """A SOURCE argument that names nothing to analyse."""


@dataclass(frozen=True)
class BatchInput:
    path: Path  # absolute
    kind: str  # "video" or "image"

    @property
    def key(self) -> str:
        return str(self.path)


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def expand(sources: list[str]) -> list[BatchInput]:
    """Files as given (any file: one that is neither a video nor an image we know is tried as
    a video and, if unreadable, becomes an error row), folders searched recursively for videos
    and images, globs (``**`` included) expanded; each input once, in a stable order."""
    found: dict[Path, str] = {}
    for spec in sources:
        matches = (
            [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
            if glob.has_magic(spec)
            else [Path(spec)]
        )
        if not matches or not all(m.exists() for m in matches):
            raise InputError(f"{spec}: no such file or folder (nor any file matching it)")
        for m in matches:
            if m.is_dir():
                for f in sorted(m.rglob("*")):
                    k = kind_of(f)
                    if k and f.is_file():
                        found.setdefault(f.resolve(), k)
            else:
                found.setdefault(m.resolve(), kind_of(m) or "video")
    if not found:
        known = ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_SUFFIXES))
        raise InputError(f"no videos or images ({known}) in {' '.join(sources)}")
    return [BatchInput(p, k) for p, k in found.items()]


def output_stem(out_dir: Path, item: BatchInput) -> Path:
    """``DIR/<the input's absolute path>``: inside DIR whatever the input's path, and the same
    on every node that sees the same files at the same paths."""
    return out_dir / item.path.relative_to(item.path.anchor)


def output_path(out_dir: Path, item: BatchInput) -> Path:
    stem = output_stem(out_dir, item)
    return stem.with_name(stem.name + OUTPUT_SUFFIX)


def summary_path(out_dir: Path, item: BatchInput) -> Path:
    stem = output_stem(out_dir, item)
    return stem.with_name(stem.name + SUMMARY_SUFFIX)
