"""The page in a real headless Chromium (Debian's package, driven by Playwright's Python API).

A ``facetrust serve`` process is started on 127.0.0.1; the page uploads a real phone photo and must
draw the decision on the canvas, then opens Chromium's fake camera (a .y4m file made here from the
same photo) and must receive live results over the WebSocket.

``FACETRUST_SCREENSHOT=docs/img/serve.png`` saves the page after the upload (the README's picture);
``FACETRUST_SCREENSHOT_FAS=CKPT`` serves that model instead of the tiny random one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.serve.conftest import DETECTOR, REAL, ServerProcess

CHROMIUM = os.environ.get("FACETRUST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PHOTO = REAL / "image_T1.jpg"
BOX_COLOURS = {(0x1F, 0x9D, 0x55): "accepted", (0xD6, 0x45, 0x45): "rejected"}


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """RGB frames (H, W, 3), H and W even -> a YUV4MPEG2 4:2:0 file for Chromium's fake camera."""
    import cv2

    height, width = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def camera_frames(photo: np.ndarray, n: int = 12) -> list[np.ndarray]:
    """The photo letterboxed into 640x480, drifting a few pixels per frame."""
    import cv2

    scale = 480 / photo.shape[0]
    small = cv2.resize(photo, (int(photo.shape[1] * scale) // 2 * 2, 480), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        canvas = np.full((480, 640, 3), 40, np.uint8)
        x0 = (640 - small.shape[1]) // 2 + 2 * (i % 6) - 6
        canvas[:, x0 : x0 + small.shape[1]] = small
        frames.append(canvas)
    return frames


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set FACETRUST_CHROMIUM)")
    from facetrust.data.io import read_image

    photo = read_image(PHOTO) if PHOTO.is_file() else __import__("skimage.data").data.astronaut()
    y4m = write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", camera_frames(photo))
    manager = sync_api.sync_playwright().start()
    try:
        chromium = manager.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}"])
    except Exception as err:  # a missing library, no sandbox support, ...: say why and skip
        manager.stop()
        pytest.skip(f"Chromium at {CHROMIUM} cannot start headless here: {str(err).splitlines()[0]}")
    yield chromium
    chromium.close()
    manager.stop()


@pytest.fixture(scope="module")
def server(checkpoint):
    fas = os.environ.get("FACETRUST_SCREENSHOT_FAS") or str(checkpoint)
    with ServerProcess(["--fas", fas, "--detector", os.environ.get("FACETRUST_SCREENSHOT_DETECTOR", DETECTOR)]) as process:
        yield process


def wait_until(page, expression: str, timeout_s: float) -> None:
    """Poll a JS expression through DevTools (page.evaluate is not subject to the page's CSP, which
    forbids the eval that Playwright's wait_for_function uses)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"{expression!r} still false after {timeout_s:.0f} s; status: {page.inner_text('#status')!r}")
        page.wait_for_timeout(200)


def box_colour_at_edge(page) -> str | None:
    """Which decision colour the first face's box is drawn in (read back from the canvas pixels)."""
    found = page.evaluate("""() => {
        const canvas = document.getElementById('view');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const counts = {};
        for (let i = 0; i < data.length; i += 4) {
            const key = data[i] + ',' + data[i + 1] + ',' + data[i + 2];
            if (key === '31,157,85' || key === '214,69,69') counts[key] = (counts[key] || 0) + 1;
        }
        return counts;
    }""")
    if not found:
        return None
    key = max(found, key=found.get)
    return BOX_COLOURS[tuple(int(v) for v in key.split(","))]


def test_upload_shows_the_decision(browser, server):
    if not PHOTO.is_file():
        pytest.skip(f"{PHOTO} is absent (the shared real photos are not on this machine)")
    page = browser.new_page(viewport={"width": 1100, "height": 820})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
    page.goto(server.url + "/")
    wait_until(page, "document.getElementById('models').textContent.includes('threshold')", 30)
    models = page.inner_text("#models")
    assert "fas" in models and "detector" in models
    shot = os.environ.get("FACETRUST_SCREENSHOT")
    if shot and page.is_enabled("#explain"):  # the heatmap costs seconds per face on 2 cores: for the picture only
        page.check("#explain")
    page.set_input_files("#file", str(PHOTO))
    wait_until(page, "document.body.dataset.analyzed === '1'", 120)
    decision = page.inner_text("#faces tbody tr td.decision").strip().lower()
    assert decision in ("live", "spoof"), page.inner_text("#status")
    colour = box_colour_at_edge(page)
    assert colour == ("accepted" if decision == "live" else "rejected")  # the box is drawn in the decision's colour
    assert page.evaluate("document.getElementById('view').width") == 480  # upright: EXIF orientation 6 applied
    if shot:
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=shot, full_page=True)
    assert not errors, errors
    page.close()


def test_camera_streams_live_results(browser, server):
    page = browser.new_page()
    page.context.grant_permissions(["camera"], origin=server.url)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server.url + "/")
    wait_until(page, "document.getElementById('models').textContent.includes('threshold')", 30)
    page.click("#camera")
    wait_until(page, "Number(document.body.dataset.faceFrames || 0) >= 3", 120)  # frames with a tracked face
    status = page.inner_text("#status")
    assert status.startswith("live:") and "fps" in status, status
    assert page.evaluate("document.body.dataset.lastDecision") in ("live", "spoof", "undecided")
    assert int(page.evaluate("document.body.dataset.frames")) >= 3
    page.click("#camera")  # stop
    assert not errors, errors
    page.close()
