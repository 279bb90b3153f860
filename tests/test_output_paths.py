"""Every command that writes checks its output paths before any work starts: a bad one is
one line naming the option, the path and the fix, exit status 2, and nothing is loaded,
read or written first. Driven as a user would, through the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avaffect.cli import main

UNCREATABLE = Path("/proc/avaffect-no-such-place")  # not even root can make a folder here


@pytest.fixture
def place(tmp_path):
    """A file where a folder is expected, and a folder where a file is expected."""
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    return tmp_path


def _fails_naming(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("avaffect: error: ")
    for needle in needles:
        assert needle in err, err
    return err


def test_analyze_refuses_a_bad_out_before_opening_the_video(place, capsys):
    # The video does not exist either: the output check comes first, before any work.
    missing = str(place / "missing.mp4")
    _fails_naming(capsys, ["analyze", missing, "--out", str(place / "a_file")],
                  "--out", "is a file, not a folder")  # fmt: skip
    _fails_naming(capsys, ["analyze", missing, "--out", str(place / "a_file" / "results")],
                  "is a file, so no folder can be made under it")  # fmt: skip
    _fails_naming(capsys, ["analyze", missing, "--out", str(UNCREATABLE / "results")],
                  f"cannot create {UNCREATABLE / 'results'}", "pick a place you can write to")  # fmt: skip
    assert not (place / "missing_avaffect").exists()


def test_analyze_refuses_a_bad_summary_before_the_run_not_after(place, capsys):
    folder = place / "a_folder"
    _fails_naming(capsys, ["analyze", str(place / "missing.mp4"), "--out", str(place / "out"),
                           "--summary", str(folder)],
                  "--summary", "is a folder; pass a file name", str(folder / "summary.json"))  # fmt: skip


def test_live_checks_every_file_it_will_write(place, capsys):
    _fails_naming(capsys, ["live", "--source", str(place / "missing.mp4"), "--headless",
                           "--csv", str(place / "a_file" / "rows.csv")],
                  "--csv", "is a file")  # fmt: skip
    _fails_naming(capsys, ["live", "--source", str(place / "missing.mp4"), "--headless",
                           "--record", str(place / "a_folder")],
                  "--record", "is a folder")  # fmt: skip


def test_export_pack_train_data_and_bench_check_their_outputs_first(place, capsys):
    missing = str(place / "missing.safetensors")  # never reached: the output is checked first
    _fails_naming(capsys, ["export", missing, "--out", str(place / "a_file")], "--out", "is a file")
    _fails_naming(capsys, ["pack", missing, "--out", str(place / "a_folder")],
                  "--out", "is a folder")  # fmt: skip
    _fails_naming(capsys, ["pack", missing, "--out", str(UNCREATABLE / "m.safetensors")],
                  "cannot create")  # fmt: skip
    _fails_naming(capsys, ["train", "mt_vgg", "--data", str(place), "--out", str(place / "a_file")],
                  "--out", "is a file")  # fmt: skip
    _fails_naming(capsys, ["data", "synthetic", str(place / "a_file")], "OUT", "is a file")
    _fails_naming(capsys, ["bench", "--engines", "--json", str(place / "a_folder")],
                  "--json", "is a folder")  # fmt: skip


def test_a_good_output_path_is_not_created_by_the_check_alone(place, capsys):
    # The check creates nothing: a run that fails for another reason leaves no empty folder.
    out = place / "new" / "deeper"
    assert main(["analyze", str(place / "missing.mp4"), "--out", str(out)]) == 2
    assert "no such video file" in capsys.readouterr().err
    assert not (place / "new").exists()
    assert sorted(p.name for p in place.iterdir()) == ["a_file", "a_folder"]  # no probe left


def test_the_user_sees_one_line_and_no_traceback(place):
    run = subprocess.run(
        [sys.executable, "-m", "avaffect.cli", "pack", "default_frame_fer2013", "--out",
         str(place / "a_file" / "x.safetensors")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"avaffect: error: --out {place / 'a_file' / 'x.safetensors'}: {place / 'a_file'} is a "
        "file, so no folder can be made under it; pick another path"
    ]
