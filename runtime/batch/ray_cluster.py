"""Inputs as Ray tasks on actors that each hold one Analyzer: ``--ray auto`` starts a local
Ray instance, ``--ray ADDRESS`` joins a running cluster. An actor whose process dies is
restarted and its task retried by Ray (``max_restarts``, ``max_task_retries``); a retried
file is analysed again from its start into a fresh temporary file, so no row is doubled.
Outputs go to ``--output``, which every node must reach at the same path (a shared
filesystem or an object-store mount), as must the inputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..options import RuntimeConfig
from .inputs import BatchInput
from .job import analyze_input, open_analyzer

RESTARTS = 3


class BatchActor:
    """One worker of the cluster: its models open once, then one file per call."""

    def __init__(self, cfg: RuntimeConfig) -> None:
        self.analyzer = open_analyzer(cfg)

    def run(self, item: BatchInput, out_dir: str) -> dict:
        return analyze_input(self.analyzer, item, Path(out_dir))


def connect(address: str) -> None:
    import ray

    if ray.is_initialized():
        return
    # address=None: a local instance, stopped when the batch ends.
    ray.init(
        address=None if address == "auto" else address,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )


def run_ray(
    cfg: RuntimeConfig, items: list[BatchInput], out_dir: Path, workers: int | None, address: str
) -> Iterator[dict]:
    """Each input's summary as it finishes; an input whose task fails even after Ray's retries
    becomes an error row (and its actor is replaced), the others go on."""
    import ray

    connect(address)
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(BatchActor)
        idle: list[Any] = [remote.remote(cfg) for _ in range(min(n, len(items)))]  # Ray actor handles
        todo = list(reversed(items))
        running: dict = {}  # ObjectRef -> (actor, item)
        while todo or running:
            while idle and todo:
                actor, item = idle.pop(), todo.pop()
                running[actor.run.remote(item, str(out_dir))] = (actor, item)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, item = running.pop(ref)
            try:
                yield ray.get(ref)
                idle.append(actor)
            except ray.exceptions.RayError as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                yield {"file": item.key, "kind": item.kind, "status": "error", "error": f"on Ray: {first}"}
                idle.append(remote.remote(cfg))
    finally:
        ray.shutdown()
