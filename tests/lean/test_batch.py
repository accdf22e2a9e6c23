"""``edge-face batch`` as users run it (subprocesses of the CLI), on clips and photos made from
the demo portrait and, where ../shared/media is present, on its real clip and photo: the
per-file outputs are exactly what the single-file CLI writes; reruns resume; a killed worker,
an interruption and a corrupt file each leave complete outputs and honest tables; and a
two-node Ray cluster on 127.0.0.1 gives the same outputs as the local pool."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.lean.runtime_cli import run_runtime

pytest.importorskip("pyarrow", reason="make setup-scale installs requirements/scale.txt")
import pyarrow.parquet as pq

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT.parent / "shared" / "media"


def batch(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "batch", "--quiet", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def start_batch(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "runtime", "batch", "--quiet", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_clip(path: Path, frames: int) -> Path:
    """The portrait drifting slowly across the frame: one face, tracked."""
    portrait = cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.png"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 15.0, (512, 512))
    for i in range(frames):
        m = cv2.getRotationMatrix2D((256, 256), 0, 1.0)
        m[0, 2] = (i % 40) - 20
        writer.write(cv2.warpAffine(portrait, m, (512, 512), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    (root / "photos").mkdir()
    portrait = cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.png"))
    cv2.imwrite(str(root / "photos" / "portrait.jpg"), portrait)
    cv2.imwrite(str(root / "photos" / "grey.png"), cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY))
    write_clip(root / "drift.mp4", 45)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    if MEDIA.is_dir():  # the real clip and a real photo, when the shared media are here
        shutil.copy(MEDIA / "face_recognition_short_hamilton_clip.mp4", root / "hamilton.mp4")
        shutil.copy(MEDIA / "fer_justin.jpg", root / "photos" / "justin.jpg")
    return root


def jsonl_of(out: Path, item: Path) -> Path:
    item = item.resolve()
    return out / item.relative_to(item.anchor).parent / (item.name + ".jsonl")


def inputs_of(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def reference(media, tmp_path_factory) -> dict[Path, str]:
    """What the single-file CLI writes for each readable input."""
    ref = tmp_path_factory.mktemp("cli")
    out = {}
    for item in inputs_of(media):
        if item.name == "corrupt.mp4":
            continue
        target = ref / (item.name + ".jsonl")
        r = run_runtime("--source", str(item.resolve()), "--json", str(target))
        assert r.returncode == 0, r.stderr
        out[item] = target.read_text()
    return out


@pytest.fixture(scope="module")
def local_run(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "out"
    r = batch(str(media), "--output", str(out), "--workers", "2")
    return out, r


def assert_same_outputs(out: Path, reference: dict[Path, str]) -> None:
    for item, text in reference.items():
        assert jsonl_of(out, item).read_text() == text, item
    assert not list(out.rglob("*.partial"))


def test_every_file_is_what_the_cli_writes_and_the_tables_agree(local_run, media, reference):
    out, r = local_run
    assert r.returncode == 1, r.stderr  # one input failed (the corrupt file); the rest are done
    assert "failed" in r.stderr.splitlines()[-1] and "tables:" in r.stderr
    assert_same_outputs(out, reference)
    inputs = {row["file"]: row for row in pq.read_table(out / "inputs.parquet").to_pylist()}
    assert set(inputs) == {str(p.resolve()) for p in inputs_of(media)}
    bad = inputs[str((media / "corrupt.mp4").resolve())]
    assert bad["status"] == "error" and "cannot open" in bad["error"]
    clip = inputs[str((media / "drift.mp4").resolve())]
    lines = [json.loads(x) for x in reference[media / "drift.mp4"].splitlines()]
    assert clip["status"] == "done" and clip["frames"] == 45 and clip["fps"] == pytest.approx(15.0)
    assert clip["faces"] == len(lines) and clip["tracks"] == len({x["track_id"] for x in lines})
    assert clip["seconds_with_face"] == pytest.approx(len({x["frame"] for x in lines}) / 15.0, abs=1e-3)
    tracks = pq.read_table(out / "tracks.parquet").to_pylist()
    assert sum(t["frames"] for t in tracks if t["file"] == clip["file"]) == len(lines)
    t = next(t for t in tracks if t["file"] == clip["file"])
    probs = [t[k] for k in t if k.startswith("emotion_p_")]
    assert len(probs) == 7 and sum(probs) == pytest.approx(1.0, abs=0.01) and 0 < t["emotion_share"] <= 1
    assert t["gender_label"] in ("woman", "man") and t["age_value"] > 0
    # The CSV is the same table.
    assert (out / "inputs.csv").read_text().count("\n") == len(inputs) + 1


def test_a_rerun_skips_what_is_done_and_redoes_a_changed_input(local_run, media, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local_run[0], out)  # its own copy: the other tests compare with local_run's
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl")}
    r = batch(str(media), "--output", str(out), "--workers", "2")
    assert f"0 analysed, {len(reference)} already done, 1 failed" in r.stderr  # the corrupt one is retried
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl")} == before
    # A changed input (same name, other content) is redone, and only it.
    copy = tmp_path / "archive"
    shutil.copytree(media, copy)
    r = batch(str(copy), "--output", str(out), "--workers", "2")
    cv2.imwrite(str(copy / "photos" / "portrait.jpg"), cv2.imread(str(copy / "photos" / "grey.png")))
    r = batch(str(copy), "--output", str(out), "--workers", "2")
    assert f"1 analysed, {len(reference) - 1} already done, 1 failed" in r.stderr, r.stderr


def worker_pids(parent: int) -> list[int]:
    """The batch's worker processes (children of the driver running the runtime)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == parent and b"spawn_main" in (d / "cmdline").read_bytes():
                    found.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def wait_for(condition, timeout: float = 120.0, step: float = 0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError("the condition never came true")


def test_a_worker_killed_mid_file_still_gives_complete_identical_outputs(media, reference, tmp_path):
    out = tmp_path / "out"
    clip = media / "drift.mp4"
    proc = start_batch(str(clip), str(media / "photos"), "--output", str(out), "--workers", "1")
    partial = wait_for(lambda: list(out.rglob("*.partial")))  # a file is being written
    victims = wait_for(lambda: worker_pids(proc.pid))
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "a worker process died" in err and partial
    assert_same_outputs(out, {k: v for k, v in reference.items() if k == clip or k.parent.name == "photos"})


def test_ctrl_c_keeps_finished_files_and_a_rerun_finishes_the_rest(media, reference, tmp_path):
    out = tmp_path / "out"
    # A long clip last in order, so that the interruption lands while work remains.
    write_clip(tmp_path / "zz_long.mp4", 300)
    proc = start_batch(str(media), str(tmp_path / "zz_long.mp4"), "--output", str(out), "--workers", "1")

    def finished() -> bool:  # the manifest holds a finished, readable input
        try:
            entries = json.loads((out / "manifest.json").read_text())["inputs"].values()
        except (OSError, ValueError, KeyError):
            return False
        return any(e["status"] == "done" for e in entries)

    wait_for(finished)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err, err
    assert not list(out.rglob("*.partial"))
    entries = json.loads((out / "manifest.json").read_text())["inputs"]
    done_before = {jsonl_of(out, Path(k)): 0 for k, e in entries.items() if e["status"] == "done"}
    done_before = {p: p.stat().st_mtime_ns for p in done_before}
    assert done_before  # kept
    for p in done_before:  # each finished file is whole: what the CLI writes
        item = next(k for k in reference if p.name == k.name + ".jsonl")
        assert p.read_text() == reference[item]
    r = batch(str(media), str(tmp_path / "zz_long.mp4"), "--output", str(out), "--workers", "1")
    assert f"{len(done_before)} already done" in r.stderr, r.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in done_before.items())  # nothing done is redone
    assert_same_outputs(out, reference)
    long = pq.read_table(out / "inputs.parquet").to_pylist()[-1]
    assert long["file"].endswith("zz_long.mp4") and long["status"] == "done" and long["frames"] == 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A head and a second node on this machine, one CPU each, stopped at the end."""
    pytest.importorskip("ray", reason="make setup-scale installs Ray")
    ray = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env["RAY_TMPDIR"] = str(tmp_path_factory.mktemp("ray"))
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    head = [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port)]
    head += ["--include-dashboard", "false", *common]
    try:
        subprocess.run(head, env=env, check=True, capture_output=True, timeout=180)
        subprocess.run(
            [ray, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", *common],
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_a_two_node_ray_cluster_gives_the_local_outputs_and_survives_a_killed_actor(
    ray_cluster, media, reference, local_run, tmp_path
):
    address, env = ray_cluster
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime",
            "batch",
            "--quiet",
            str(media),
            "--output",
            str(out),
            "--ray",
            address,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: list(out.rglob("*.partial")), timeout=300)

    def actors() -> list[int]:
        pids = []
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and (d / "cmdline").read_bytes().startswith(b"ray::BatchActor"):
                    pids.append(int(d.name))
            except OSError:
                pass
        return pids

    os.kill(wait_for(actors)[0], signal.SIGKILL)  # an actor dies in the middle of its file
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err  # the corrupt file, as locally
    assert_same_outputs(out, reference)
    local_out, _ = local_run
    local_inputs = pq.read_table(local_out / "inputs.parquet").drop_columns([]).to_pylist()
    ray_inputs = pq.read_table(out / "inputs.parquet").to_pylist()
    assert ray_inputs == local_inputs
    assert (
        pq.read_table(out / "tracks.parquet").to_pylist()
        == pq.read_table(local_out / "tracks.parquet").to_pylist()
    )
