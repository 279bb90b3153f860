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
