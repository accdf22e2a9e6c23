"""Inputs over a local process pool: each worker process opens the models once (its
initializer) and runs files one at a time. A worker that dies takes its pool with it; the
unfinished inputs are then given to a fresh pool, each at most ``RETRIES`` times."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ..api import Analyzer
from ..options import RuntimeConfig
from .inputs import BatchInput
from .job import analyze_input, open_analyzer

RETRIES = 2

# The worker process's own Analyzer, made by the pool's initializer: a process pool hands
# state to its tasks only through the process (each process has exactly one).
_worker_analyzer: Analyzer | None = None


def _init_worker(cfg: RuntimeConfig) -> None:
    global _worker_analyzer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _worker_analyzer = open_analyzer(cfg)


def _run(item: BatchInput, out_dir: Path) -> dict:
    assert _worker_analyzer is not None
    return analyze_input(_worker_analyzer, item, out_dir)


def run_local(
    cfg: RuntimeConfig, items: list[BatchInput], out_dir: Path, workers: int, died: Callable[[int], None]
) -> Iterator[dict]:
    """Each input's summary as it finishes (in any order)."""
    tries = {item.key: 0 for item in items}
    todo = list(items)
    ctx = multiprocessing.get_context("spawn")  # no inherited threads or native state
    while todo:
        pool = ProcessPoolExecutor(
            min(workers, len(todo)), mp_context=ctx, initializer=_init_worker, initargs=(cfg,)
        )
        futures: dict[Future, BatchInput] = {pool.submit(_run, item, out_dir): item for item in todo}
        todo = []
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    item = futures[f]
                    try:
                        yield f.result()
                    except BrokenProcessPool:
                        tries[item.key] += 1
                        if tries[item.key] > RETRIES:
                            yield {
                                "file": item.key,
                                "kind": item.kind,
                                "status": "error",
                                "error": f"its worker died {tries[item.key]} times while analysing it",
                            }
                        else:
                            todo.append(item)
            if todo:
                died(len(todo))
        except BaseException:  # Ctrl-C, or the caller stopped: no worker finishes its file
            stop_local_workers()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def stop_local_workers() -> None:
    """After Ctrl-C: no worker process outlives the batch."""
    for child in multiprocessing.active_children():
        child.kill()
