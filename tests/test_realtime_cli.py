"""`avaffect live` / `avaffect analyze` as a user meets them: help, and one clear line for
each thing that can be missing (display, camera, file, model)."""

import pytest

from avaffect.cli import build_parser, main


def test_help_lists_the_commands_and_teaches_with_examples(capsys):
    parser = build_parser()
    text = parser.format_help()
    assert "live" in text and "analyze" in text
    with pytest.raises(SystemExit):
        main(["live", "--help"])
    live_help = capsys.readouterr().out
    assert "examples:" in live_help and "--headless" in live_help and "q or Esc" in live_help
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    assert "summary.json" in capsys.readouterr().out


def test_live_without_a_display_suggests_headless(monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["live"]) == 2
    err = capsys.readouterr().err
    assert "no display" in err and "--headless" in err and "Traceback" not in err


def test_live_without_a_camera_suggests_a_file(capsys):
    assert main(["live", "--headless", "--source", "9", "-q"]) == 2
    err = capsys.readouterr().err
    assert "no camera at index 9" in err and "--source FILE" in err


def test_analyze_a_missing_file_and_bad_numbers(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.mp4")]) == 2
    assert "no such video file" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "nope.mp4"), "--max-faces", "0"]) == 2
    assert "--max-faces must be at least 1" in capsys.readouterr().err


def test_a_folder_without_videos_is_refused_naming_what_was_looked_for(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no video here")
    assert main(["analyze", str(tmp_path), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "no video or image in this folder" in err and ".mp4" in err
    assert "no such video file" not in err and not (tmp_path / "out").exists()


def test_a_one_pixel_image_is_refused_as_too_small_and_leaves_no_output(tmp_path, capsys):
    import cv2
    import numpy as np

    image = tmp_path / "dot.png"
    cv2.imwrite(str(image), np.zeros((1, 1, 3), np.uint8))
    out = tmp_path / "out"
    assert main(["analyze", str(image), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"avaffect: error: {image}: the image is too small (1x1 pixels) to hold a face; "
        "pass a video or image at least 32x32"
    )
    assert "--record" not in err and not out.exists()  # no 0-byte annotated.mp4 left behind


def test_ffmpeg_prints_nothing_before_our_one_line_error(tmp_path):
    """OpenCV's FFmpeg reads its log level once per process: a fresh one, as a user runs it."""
    import os
    import subprocess
    import sys

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0\0\0\x18ftypmp42" + bytes(4000))  # an MP4 with no moov atom
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    run = subprocess.run(
        [sys.executable, "-m", "avaffect.cli", "analyze", str(broken), "--out",
         str(tmp_path / "out"), "-q"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"avaffect: error: {broken}: cannot open the video file (unsupported format or unreachable)"
    ]
