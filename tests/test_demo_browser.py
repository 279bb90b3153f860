"""The app in a real headless Chromium whose fake webcam plays a video of a real face: the
annotated frames and the numbers come back to the page; an audio-visual model hears the fake
microphone; a photo upload fills the table and a bad one shows its one-line message. A
screenshot of the live tab is saved."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from demo_support import YUNET, face_frame, fer_faces, free_port, needs_faces, tiny_checkpoint

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytest.importorskip("gradio", reason="the app needs the 'ui' extra (Gradio 6)")
playwright = pytest.importorskip(
    "playwright.sync_api", reason="needs Playwright (pip install playwright; no browser download)"
)
pytestmark = [
    needs_faces,
    pytest.mark.skipif(
        CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"
    ),
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",  # grant the camera and microphone without a prompt
    "--use-fake-device-for-media-stream",
]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    """A raw YUV4MPEG2 file (4:2:0), what Chromium's fake camera plays in a loop."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def serve(checkpoint: Path):
    from avaffect.demo.app import build_app, launch
    from avaffect.demo.options import ServeOptions
    from avaffect.engines import load_engine

    options = ServeOptions(port=free_port(), detector_model=str(YUNET), stream_every_s=0.2)
    demo = build_app(load_engine(str(checkpoint), "torch"), options)
    _, url, _ = launch(demo, options, block=False, quiet=True)
    return demo, url


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    face = fer_faces(4)[3]
    frames = [face_frame([face], shift=int(12 * np.sin(i / 3))) for i in range(15)]
    write_y4m(root / "camera.y4m", frames)
    cv2.imwrite(str(root / "photo.png"), face_frame([face]))
    (root / "notes.png").write_bytes(b"these are notes, not a picture")
    tiny_checkpoint(root / "visual.safetensors")
    tiny_checkpoint(root / "av.safetensors", audio_visual=True)
    return root


@pytest.fixture(scope="module")
def app(files):
    demo, url = serve(files / "visual.safetensors")
    yield url, files
    demo.close()


@pytest.fixture(scope="module")
def browser(files, tmp_path_factory):
    """Chromium with a fake camera playing camera.y4m and a fake microphone (a beep)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with playwright.sync_playwright() as p:
        # A fresh profile per run: nothing remembered from an earlier session.
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={files / 'camera.y4m'}"],
            viewport={"width": 1280, "height": 1600},
        )
        yield context
        context.close()


def open_page(browser, url: str):
    page = browser.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#live-webcam", timeout=30_000)
    return page


@pytest.fixture(scope="module")
def page(app, browser):
    return open_page(browser, app[0])


def start_webcam(page) -> None:
    webcam = page.locator("#live-webcam")
    access = webcam.get_by_text("Click to Access Webcam")
    if access.count():
        access.click()
    webcam.get_by_role("button", name="capture photo").click()  # Gradio's Record button


def wait_for_status(page, pattern: str, timeout_ms: int = 60_000) -> str:
    page.wait_for_function(
        f"() => /{pattern}/.test(document.querySelector('#live-status')?.innerText ?? '')",
        timeout=timeout_ms,
    )
    return text_of(page, "#live-status")


def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_the_webcam_stream_comes_back_annotated_with_numbers(page, app, tmp_path):
    start_webcam(page)
    wait_for_status(page, "1 face\\b")
    page.wait_for_function(
        "() => (document.querySelector('#live-faces')?.innerText ?? '').includes('face #0')",
        timeout=30_000,
    )
    time.sleep(1.5)  # a few more frames: FPS and the plots fill in
    status = text_of(page, "#live-status")
    assert "FPS" in status and "latency" in status
    faces = text_of(page, "#live-faces")
    assert "face #0" in faces and "valence" in faces
    label = text_of(page, "#live-expression")
    assert any(
        e in label
        for e in ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
    )
    src = page.locator("#live-annotated img").get_attribute("src")
    assert src and "/gradio_api/file=" in src
    frame = page.request.get(src if src.startswith("http") else app[0].rstrip("/") + src)
    picture = cv2.imdecode(np.frombuffer(frame.body(), np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (480, 640, 3)
    shots = Path(os.environ.get("AVAFFECT_TEST_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "demo_live.png"), full_page=True)
    assert (shots / "demo_live.png").stat().st_size > 10_000


def test_a_photo_upload_fills_the_table_and_a_bad_one_says_why(page, app):
    _, root = app
    page.get_by_role("tab", name="Image").click()
    upload = page.locator("#photo-in input[type=file]")
    upload.set_input_files(str(root / "photo.png"))
    page.wait_for_function(
        "() => (document.querySelector('#photo-table')?.innerText ?? '').includes('face #0')",
        timeout=30_000,
    )
    assert "1 face found" in text_of(page, "#photo-note")
    page.locator("#photo-in").get_by_role("button", name="Clear").first.click()
    page.locator("#photo-in input[type=file]").set_input_files(str(root / "notes.png"))
    page.get_by_text("unsupported file type: notes.png is not a photo").first.wait_for(
        timeout=30_000
    )


def test_an_audio_visual_model_hears_the_browser_microphone(browser, files):
    demo, url = serve(files / "av.safetensors")
    try:
        page = open_page(browser, url)
        page.locator("#live-mic").get_by_role("button", name="Record").first.click()
        start_webcam(page)
        # The skew needs the first full audio window and a fused step after it: allow for a
        # machine whose two cores are busy (with a training run beside it, it took over 60 s).
        status = wait_for_status(page, "A\\/V skew \\d+ ms", timeout_ms=150_000)
        assert "1 face" in status
        page.close()
    finally:
        demo.close()
