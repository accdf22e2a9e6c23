"""``edge-face batch SOURCE... --output DIR``: the driver. It expands the sources, skips what
the manifest says is done, runs the rest on a local pool or on Ray, records each input as it
finishes, and rebuilds the tables from the per-file outputs at the end (also after Ctrl-C)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..cli import OneLineParser
from ..options import add_options, add_profile, config_from_namespace, parse_with_profile

# A batch owns its outputs (DIR/<input>.jsonl and the tables): no window, video or other file.
NOT_BATCH_OPTIONS = frozenset(
    {"source", "show", "output", "json", "per_image", "max_frames", "fallback_to_demo"}
)
BATCH_HELP = (
    "analyse many videos and images (files, folders, globs), each as the CLI would, on a local process "
    "pool or a Ray cluster: DIR/<input path>.jsonl per input, and the tables DIR/inputs.{parquet,csv} "
    "(one row per input) and DIR/tracks.{parquet,csv} (one row per track); rerunning resumes"
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    from ..model_folder import tasks

    p = OneLineParser(prog=f"{prog} batch", description=BATCH_HELP)
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="video or image files, folders, globs")
    p.add_argument(
        "--output", required=True, type=Path, metavar="DIR", help="where the outputs and tables go"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: the cores here; with --ray, the cluster's CPUs), "
        "one thread per model",
    )
    p.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run on Ray: `auto` starts a local instance, `HOST:PORT` joins a running cluster "
        "(inputs and --output at the same paths on every node)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_profile(p)
    add_options(p, tasks(), exclude=NOT_BATCH_OPTIONS)
    return p


def main(argv: list[str], prog: str) -> int:
    parser = build_parser(prog)
    a = parse_with_profile(parser, argv)
    try:
        import pyarrow  # noqa: F401
        import tqdm  # noqa: F401

        if a.ray:
            import ray  # noqa: F401
    except ImportError as e:
        print(
            f"error: the batch runner needs the scale extras ({e.name} is missing): pip install "
            "'edge-face[scale]' (in the repository: make setup-scale)",
            file=sys.stderr,
        )
        return 2
    from ..cli import runtime_errors
    from .inputs import InputError

    if a.workers is not None and a.workers < 1:
        parser.error("--workers must be at least 1")
    cfg = config_from_namespace(a, show=False)
    try:
        return Batch(cfg, a.output, a.workers, a.ray, a.quiet).run(a.sources)
    except (InputError, *runtime_errors()) as e:  # type: ignore[misc]
        print(f"error: {e}", file=sys.stderr)
        return 2


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the batch at once, whatever the shell left them set to (a job
    started in the background inherits SIGINT ignored): the driver then kills its workers,
    keeps every finished file and rebuilds the tables."""
    reasons = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(reasons[signal.Signals(signum)])

    previous = {s: signal.signal(s, stop) for s in reasons}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Batch:
    def __init__(self, cfg, out_dir: Path, workers: int | None, ray: str | None, quiet: bool) -> None:
        self.cfg, self.out_dir, self.workers, self.ray, self.quiet = cfg, out_dir, workers, ray, quiet

    def run(self, sources: list[str]) -> int:
        from tqdm import tqdm

        from .inputs import expand
        from .job import file_fingerprint
        from .manifest import Manifest, models_fingerprint, unchanged
        from .tables import write_tables

        items = expand(sources)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(self.out_dir, models_fingerprint(self.cfg))
        todo = [
            i
            for i in items
            if not (
                unchanged(i, manifest.entries.get(i.key)) and manifest.is_done(i, file_fingerprint(i.path))
            )
        ]
        skipped = len(items) - len(todo)
        counts = {"done": 0, "error": 0}
        frames = 0
        start = time.perf_counter()
        stopped = ""
        bar = tqdm(total=len(items), initial=skipped, unit="input", disable=self.quiet, file=sys.stderr)
        try:
            with stop_on_signals():
                for summary in self._results(todo):
                    if summary["status"] == "interrupted":
                        raise KeyboardInterrupt
                    manifest.record(summary)
                    counts[summary["status"]] = counts.get(summary["status"], 0) + 1
                    frames += summary.get("frames") or 0
                    if summary["status"] == "error":
                        error = summary["error"]
                        bar.write(
                            error if error.startswith(summary["file"]) else f"{summary['file']}: {error}"
                        )
                    bar.update()
                    bar.set_postfix(fps=f"{frames / max(time.perf_counter() - start, 1e-6):.1f}")
        except KeyboardInterrupt as e:
            stopped = str(e) or "interrupted (Ctrl-C)"
            from .local import stop_local_workers

            stop_local_workers()
        finally:
            bar.close()
            self._remove_partials(items)
        tables = write_tables(self.out_dir, items)
        seconds = time.perf_counter() - start
        where = f"Ray ({self.ray})" if self.ray else f"{self._local_workers(len(todo))} local worker(s)"
        print(
            f"batch: {len(items)} input(s): {counts['done']} analysed, {skipped} already done, "
            f"{counts['error']} failed; {frames:,} frames in {seconds:.1f} s "
            f"({frames / max(seconds, 1e-6):.1f} FPS) "
            f"on {where}; tables: {tables['inputs.parquet']}, {tables['tracks.parquet']} (and .csv)"
            + (f"; {stopped}: the finished inputs are kept, rerun to finish the rest" if stopped else ""),
            file=sys.stderr,
        )
        if stopped:
            return 143 if "SIGTERM" in stopped else 130
        return 1 if counts["error"] else 0

    def _local_workers(self, n: int) -> int:
        return max(1, min(self.workers or os.cpu_count() or 1, n or 1))

    def _results(self, todo):
        if not todo:
            return iter(())
        if self.ray:
            from .ray_cluster import run_ray

            return run_ray(self.cfg, todo, self.out_dir, self.workers, self.ray)
        from .local import run_local

        def died(n: int) -> None:
            print(f"a worker process died: retrying its unfinished {n} input(s)", file=sys.stderr)

        return run_local(self.cfg, todo, self.out_dir, self._local_workers(len(todo)), died)

    def _remove_partials(self, items) -> None:
        """No partial output survives: what a killed or interrupted worker was writing."""
        from .inputs import output_path
        from .job import PARTIAL

        for folder in {output_path(self.out_dir, i).parent for i in items}:
            for p in folder.glob(f".*{PARTIAL}"):
                p.unlink(missing_ok=True)
