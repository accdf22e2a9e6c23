"""``edge-face serve`` as clients use it: a live server on 127.0.0.1 (tests/lean/conftest.py),
reached over HTTP. What it answers, how it refuses bad input, and that one loop serves many
viewers without a slow one holding it back."""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.serve import HOST, mjpeg_frames, photo, run_load, sse_events
from tests.lean.conftest import TOKEN

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def png_bomb(side: int) -> bytes:
    """A real decompression bomb: a side x side grey PNG of zeros, a few tens of KB on disk."""
    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def portrait() -> bytes:
    return photo()


@pytest.fixture(scope="module")
def local_records(portrait):
    """What the Python API says of the same picture, decoded the same way (the reference)."""
    from runtime.api import Analyzer

    frame = cv2.imdecode(np.frombuffer(portrait, np.uint8), cv2.IMREAD_COLOR)
    with Analyzer() as analyzer:
        return analyzer.analyze_frame(frame).records()


def same_faces(got: list[dict], want: list[dict]) -> None:
    assert [f["box"] for f in got] == [f["box"] for f in want]
    for g, w in zip(got, want):
        for task in ("emotion", "gender", "age"):
            assert g[task]["label"] == w[task]["label"]
            if w[task].get("probs"):
                assert g[task]["probs"] == pytest.approx(w[task]["probs"], abs=1e-4)


def test_analyze_returns_the_faces_the_api_finds_in_the_same_picture(live_server, portrait, local_records):
    r = live_server.analyze(portrait, "image/jpeg")
    assert r.status == 200, r.body
    body = r.json()
    assert (body["width"], body["height"]) == (512, 512)
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    assert {"frame", "timestamp", "track_id", "box", "detector_score", "emotion", "gender", "age"} <= set(
        face
    )
    same_faces(body["faces"], local_records)


def test_a_form_upload_is_the_same_as_a_raw_body(live_server, portrait, local_records):
    boundary = "----edgefaceboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="face.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + portrait
        + f"\r\n--{boundary}--\r\n".encode()
    )
    r = live_server.analyze(body, f"multipart/form-data; boundary={boundary}")
    assert r.status == 200, r.body
    same_faces(r.json()["faces"], local_records)


def test_annotated_returns_the_picture_with_its_boxes_drawn(live_server, portrait):
    r = live_server.analyze(portrait, "image/jpeg", query="?annotated=1")
    assert r.status == 200 and r.headers["content-type"] == "image/jpeg"
    drawn = cv2.imdecode(np.frombuffer(r.body, np.uint8), cv2.IMREAD_COLOR)
    plain = cv2.imdecode(np.frombuffer(portrait, np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == plain.shape
    changed = np.abs(drawn.astype(int) - plain.astype(int)).max(axis=2) > 60
    assert 0.005 < changed.mean() < 0.2  # a box and its tags, not a different picture


def odd_images() -> dict[str, bytes]:
    grey = cv2.cvtColor(cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.png")), cv2.COLOR_BGR2GRAY)
    return {
        "1x1": png(np.full((1, 1, 3), 128, np.uint8)),
        "greyscale": png(grey),
        "16-bit": png(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.uint16) * 257),
    }


@pytest.mark.parametrize("name", ["1x1", "greyscale", "16-bit"])
def test_odd_but_valid_images_are_analysed_like_any_other(live_server, name):
    data = odd_images()[name]
    r = live_server.analyze(data, "image/png")
    assert r.status == 200, r.body
    faces = r.json()["faces"]
    assert len(faces) == (0 if name == "1x1" else 1)
    # The same decoding the CLI uses: the API reading the same bytes finds the same faces.
    from runtime.api import Analyzer

    with Analyzer(tasks=("gender",)) as analyzer:
        want = analyzer.analyze_frame(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)).records()
    assert [f["box"] for f in faces] == [f["box"] for f in want]


def truncated_jpeg() -> bytes:
    data = photo()
    return data[: len(data) // 2]


BAD_INPUTS = {
    # name: (body, content type, status, words the error must contain)
    "empty body": (b"", "image/jpeg", 400, "empty"),
    "garbage bytes": (np.random.default_rng(0).bytes(5000), "image/jpeg", 415, "not an image"),
    "a text file": (b"name,emotion\nalice,happy\n" * 20, "text/plain", 415, "not an image"),
    "a truncated JPEG": (truncated_jpeg(), "image/jpeg", 400, "truncated"),
    "an oversized body": (b"\xff" * (1024 * 1024 + 10), "image/jpeg", 413, "--max-upload-mb"),
    "over the pixel limit": (
        cv2.imencode(".jpg", np.zeros((1500, 2000, 3), np.uint8))[1].tobytes(),
        "image/jpeg",
        413,
        "--max-pixels",
    ),
    "a PNG decompression bomb": (png_bomb(8000), "image/png", 413, "64.0 MP"),
    "a form without a file": (
        b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
        400,
        "no file part",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_its_4xx_json_error_and_the_server_goes_on(live_server, case):
    body, content_type, status, words = BAD_INPUTS[case]
    r = live_server.analyze(body, content_type)
    assert r.status == status, (case, r.status, r.body)
    assert r.headers["content-type"] == "application/json"
    message = r.json()["error"]
    assert words in message and "Traceback" not in message and "\n" not in message
    assert live_server.get("/healthz").status == 200


def test_a_wrong_or_missing_token_is_refused_on_every_route(live_server):
    for path in ("/", "/healthz", "/metrics", "/events", "/stream.mjpg", "/nothing-here"):
        for headers in ({}, {"Authorization": "Bearer wrong-token-123"}):
            r = live_server.request("GET", path, headers=headers, auth=False, timeout=10)
            assert r.status == 401 and "token" in r.json()["error"], (path, headers)
    r = live_server.request("GET", f"/healthz?token={TOKEN}", auth=False)
    assert r.status == 200  # the query form, for the page and the stream


def slow_upload(server, sent: bytes = b"\xff\xd8\xff") -> socket.socket:
    """A client that announces a body, sends three bytes of it and stalls."""
    s = socket.create_connection((HOST, server.port))
    s.sendall(
        b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
        + sent
    )
    return s


def reply_of(s: socket.socket, timeout: float) -> tuple[int, bytes]:
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_a_full_queue_answers_503_with_retry_after_and_a_stalled_upload_times_out(live_server, portrait):
    stalled = [slow_upload(live_server) for _ in range(2)]  # the test server admits 2 at once
    time.sleep(0.3)
    try:
        r = live_server.analyze(portrait, "image/jpeg")
        assert r.status == 503 and r.headers["retry-after"] == "1" and "busy" in r.json()["error"]
        for s in stalled:
            status, body = reply_of(s, timeout=10)
            assert status == 408 and b"stalled" in body
    finally:
        for s in stalled:
            s.close()
    assert live_server.analyze(portrait, "image/jpeg").status == 200  # the places came back


def test_the_mjpeg_stream_carries_annotated_frames_of_the_source(live_server):
    response = live_server.open_stream("/stream.mjpg")
    assert response.getheader("Content-Type").startswith("multipart/x-mixed-replace")
    frames = []
    for jpeg in mjpeg_frames(response):
        frames.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
        if len(frames) == 3:
            break
    response.close()
    assert all(f.shape == (480, 640, 3) for f in frames)
    assert not np.array_equal(frames[0], frames[2])  # live: the demo moves


def test_events_carry_one_json_per_frame_in_the_json_line_schema(live_server):
    response = live_server.open_stream("/events")
    assert response.getheader("Content-Type").startswith("text/event-stream")
    events = []
    for event in sse_events(response):
        events.append(event)
        if len(events) == 5:
            break
    response.close()
    frames = [e["frame"] for e in events]
    assert frames == sorted(frames) and len(set(frames)) == 5
    faces = [f for e in events for f in e["faces"]]
    assert faces and all({"track_id", "box", "emotion", "gender", "age"} <= set(f) for f in faces)
    assert events[-1]["fps"] > 0 and "detect" in events[-1]["stages_ms"]


def test_one_loop_serves_many_viewers_and_a_stalled_one_holds_nothing_back(live_server):
    stalled = live_server.open_stream("/stream.mjpg")  # connected, never read
    reader = live_server.open_stream("/stream.mjpg")
    got = []

    done = threading.Event()

    def read() -> None:
        for _ in mjpeg_frames(reader):
            got.append(time.monotonic())
            if done.is_set():
                return

    t = threading.Thread(target=read, daemon=True)
    frames0 = live_server.get("/healthz").json()["source"]["frames"]
    t0 = time.monotonic()
    t.start()
    time.sleep(4)
    frames1 = live_server.get("/healthz").json()["source"]["frames"]
    elapsed = time.monotonic() - t0
    done.set()
    t.join(5)
    stalled.close()
    reader.close()
    # The demo plays at 30 FPS: the loop keeps that pace with a viewer that reads nothing...
    assert (frames1 - frames0) / elapsed > 20
    # ...and the reading viewer keeps getting new frames.
    assert len([x for x in got if x > t0 + 1]) > 30
    metrics = live_server.get("/metrics").body.decode()
    assert "edge_face_viewers" in metrics


def test_load_gets_no_5xx_but_the_intended_503s_and_the_server_goes_on(live_server, portrait):
    load = run_load(live_server, portrait, seconds=5, clients=8, viewers=4)
    assert load.requests > 0 and not load.errors, load.errors
    assert set(load.by_status) <= {"200", "503"} and load.by_status.get("200", 0) > 0
    assert all(n > 30 for n in load.viewer_frames)  # 5 s at 30 FPS, every viewer fed
    assert live_server.get("/healthz").status == 200


def test_metrics_are_prometheus_text_with_frames_stages_and_requests(live_server, portrait):
    """Its own requests first, so that it passes alone as in the whole file."""
    assert live_server.analyze(portrait, "image/jpeg").status == 200
    body, content_type, status, _ = BAD_INPUTS["an oversized body"]
    assert live_server.analyze(body, content_type).status == status
    r = live_server.get("/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.body.decode()
    for name in (
        "edge_face_frames_total",
        "edge_face_faces_total",
        "edge_face_dropped_frames_total",
        'edge_face_stage_seconds_bucket{le="0.01",stage="detect"}',
        "edge_face_analyze_seconds_count",
    ):
        assert name in text, name
    assert 'edge_face_requests_total{route="/analyze",status="413"}' in text  # counted by status


def test_the_page_and_its_script_are_served_from_the_package_with_no_outside_reference(live_server):
    page = live_server.get("/").body.decode()
    assert "stream.mjpg" in page and "EventSource" in page and 'id="faces"' in page
    assert "http://" not in page and "https://" not in page
    assert 'src="' not in page.replace('src="data:', "") and 'href="style' not in page  # one file
    assert (
        live_server.get("/healthz").headers.get("access-control-allow-origin") is None
    )  # no CORS by default


def test_other_addresses_need_a_token_or_an_explicit_no_auth():
    r = run_runtime_serve("--host", "0.0.0.0")
    assert r.returncode == 2 and "--token" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    from runtime.server.settings import ServeSettings

    assert ServeSettings(host="0.0.0.0", no_auth=True).warnings()
    assert not ServeSettings(host="0.0.0.0", token="long-enough-token").warnings()
    ServeSettings(host="0.0.0.0", token="long-enough-token").check()


def test_a_bad_source_is_one_line_and_exit_2():
    r = run_runtime_serve("--source", "no/such/video.mp4", "--port", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such file" in r.stderr


def run_runtime_serve(*args: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "runtime", "serve", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_source_the_api_runs_alone_and_cors_is_only_what_is_asked(portrait):
    from benchmarks.serve import ServerProcess

    with ServerProcess("--cors", "http://laptop.test:3000") as server:
        r = server.get("/stream.mjpg")
        assert r.status == 404 and "no live source" in r.json()["error"]
        assert server.get("/events").status == 404
        health = server.get("/healthz").json()
        assert health["status"] == "ok" and "source" not in health
        assert server.analyze(portrait, "image/jpeg").status == 200
        asked = server.get("/healthz", headers={"Origin": "http://laptop.test:3000"})
        assert asked.headers.get("access-control-allow-origin") == "http://laptop.test:3000"
        other = server.get("/healthz", headers={"Origin": "http://elsewhere.test"})
        assert other.headers.get("access-control-allow-origin") is None


def test_a_folder_of_images_plays_as_a_slideshow_not_as_fast_as_it_can(tmp_path):
    from benchmarks.serve import ServerProcess

    portrait = cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.png"))
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(tmp_path / name), portrait)
    with ServerProcess("--source", str(tmp_path)) as server:
        first = server.get("/healthz").json()["source"]["frames"]
        time.sleep(3)
        health = server.get("/healthz").json()
    assert health["status"] == "ok" and health["source"]["name"] == str(tmp_path)
    assert 2 <= health["source"]["frames"] - first <= 4  # one image a second, looping over the folder
