"""Whatever runs in the lean runtime environment must import there without TensorFlow.

That is the runtime package, the benchmarks (all but the reference demo's pipeline, which runs
Keras in the training environment), the crop calibration, and every first-party module they
import, at module level or inside a function (found by reading their source), transitively.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("runtime", "train", "export", "benchmarks")
# Run by the training environment's Python on purpose (Keras models of the reference demo).
TRAINING_ENV_ONLY = {"benchmarks.reference", "train.tfenv"}
LEAN_ENTRY_POINTS = ["export.calibrate_crop"]


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def first_party_imports(name: str) -> set[str]:
    """Modules of this project that ``name`` imports anywhere in its source."""
    path = module_file(name)
    if path is None:
        return set()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.split(".")[0] in FIRST_PARTY and module_file(m)}


def lean_modules() -> set[str]:
    start = set(LEAN_ENTRY_POINTS)
    for package in ("runtime", "benchmarks"):
        start |= {m.name for m in pkgutil.walk_packages([str(ROOT / package)], f"{package}.")}
    todo, seen = sorted(start - TRAINING_ENV_ONLY), set()
    while todo:
        name = todo.pop()
        if name in seen or name in TRAINING_ENV_ONLY:
            continue
        seen.add(name)
        todo += sorted(first_party_imports(name) - seen)
    return seen


def test_the_walk_reaches_the_training_modules_the_lean_side_borrows():
    mods = lean_modules()
    assert {"runtime.pipeline", "benchmarks.accuracy", "export.calibrate_crop"} <= mods
    assert "train.evaluate" in mods and any(m.startswith("train.datasets") for m in mods)
    assert not mods & TRAINING_ENV_ONLY


def test_every_module_the_lean_environment_runs_imports_without_tensorflow():
    names = sorted(m for m in lean_modules() if not m.endswith("__main__"))
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def runtime_import_graph() -> dict[str, set[str]]:
    """runtime.X -> the runtime modules it imports anywhere in its source (relative imports
    resolved; imports inside functions count: a late import is still a dependency)."""
    graph: dict[str, set[str]] = {}
    for info in pkgutil.walk_packages([str(ROOT / "runtime")], "runtime."):
        path = module_file(info.name)
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative to the module's package (runtime, runtime.server, ...)
                    package = info.name.split(".")[: -1 if not info.ispkg else None]
                    base = ".".join(package[: len(package) - node.level + 1])
                    mod = f"{base}.{node.module}" if node.module else base
                else:
                    mod = node.module or ""
                if mod and mod.startswith("runtime"):
                    names = [f"{mod}.{a.name}" for a in node.names]
                    deps |= {n for n in names if module_file(n)} or {mod}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("runtime.")}
        graph[info.name] = {d for d in deps if d != "runtime" and d != info.name and module_file(d)}
    return graph


def test_the_runtime_has_no_import_cycle_and_the_engine_knows_no_front_end():
    graph = runtime_import_graph()
    assert {"runtime.pipeline", "runtime.api", "runtime.app", "runtime.options"} <= set(graph)
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            assert state.get(d) != 1, f"import cycle: {' -> '.join([*path, m, d])}"
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])

    def reach(m: str) -> set[str]:
        seen, todo = set(), [m]
        while todo:
            for d in graph.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    front_ends = {"runtime.api", "runtime.app", "runtime.__main__"}  # runtime.cli: parser helpers
    front_ends |= {m for m in graph if m.startswith("runtime.server")}
    for engine in ("runtime.pipeline", "runtime.detector", "runtime.classifier", "runtime.tracker"):
        assert not reach(engine) & front_ends, f"{engine} reaches {sorted(reach(engine) & front_ends)}"
    assert "runtime.api" in reach("runtime.app") and "runtime.app" not in reach("runtime.api")
    # The server is an application on the API, a peer of the CLI's loop: neither uses the other.
    assert "runtime.api" in reach("runtime.server.app") and "runtime.app" not in reach("runtime.server.app")
    assert not {m for m in reach("runtime.app") if m.startswith("runtime.server")}
