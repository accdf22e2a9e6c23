"""The live page in a real browser (Debian's headless Chromium driven by Playwright): it shows
the annotated video and a row per face, as a user opening it sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.overlay import LABEL_COLOURS
from tests.lean.conftest import TOKEN

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's notes say: no background networking (this machine has no outside network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_the_page_shows_the_annotated_video_and_the_faces(live_server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "no Chromium here: scripts/browser.sh installs Debian's chromium (needs root and apt-get)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="make setup-serve installs Playwright")
    shot = tmp_path / "page.png"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"http://127.0.0.1:{live_server.port}/?token={TOKEN}")
            page.wait_for_selector("#faces tbody tr.face", timeout=30_000)
            page.wait_for_function("document.getElementById('video').naturalWidth > 0", timeout=30_000)
            page.wait_for_timeout(1000)  # a few more frames
            row = page.inner_text("#faces tbody tr.face")
            fps = page.inner_text("#fps")
            box = page.locator("#video").bounding_box()
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    # The row names a track and its labels; the header counts frames per second.
    assert row.startswith("#") and any(e in row for e in LABEL_COLOURS) and ("woman" in row or "man" in row)
    assert float(fps.split()[0]) > 0
    # The screenshot shows the video where the <img> is: a picture, not a blank box, with
    # the overlay's box drawn in the colour of the face's emotion.
    image = cv2.imread(str(shot))
    assert box is not None and box["width"] >= 600
    x, y, w, h = (int(round(box[k])) for k in ("x", "y", "width", "height"))
    video = image[y : y + h, x : x + w]
    assert video.std() > 30
    label = row.split()[1]
    colour = np.array(LABEL_COLOURS.get(label, (0, 255, 0)))
    near = (np.abs(video.astype(int) - colour).max(axis=2) < 40).mean()
    assert near > 0.002, f"no overlay pixels of {label}'s colour {colour.tolist()} in the video"
    outside = image[y + h + 5 :, :]
    assert outside.size == 0 or outside.std() < video.std()  # the picture is in the video's place
