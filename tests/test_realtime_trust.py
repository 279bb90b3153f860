"""Outputs you can trust, driven as a user would: `avaffect analyze` in a subprocess, stopped
by SIGINT, SIGTERM and SIGKILL; a locked, a finished and an overwritten --out; a truncated
video; and audio whose memory does not grow with the recording's length."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from demo_support import YUNET, fer_faces, needs_faces, tiny_checkpoint

from avaffect import run_status
from avaffect.cli import main
from avaffect.realtime.run_folder import LOCK_NAME, RunFolder
from avaffect.realtime.sinks import row_columns

av = pytest.importorskip("av", reason="PyAV (the 'audio' extra) writes and reads the test videos")

FPS, RATE = 15, 16000


def write_video(path: Path, frames: int, faststart: bool = False) -> Path:
    """A 320x240 clip of a FER2013 face drifting to and fro, over a 440 Hz tone (AAC)."""
    face = cv2.resize(fer_faces(4)[3], (120, 120), interpolation=cv2.INTER_CUBIC)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        video = out.add_stream("mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        sound = out.add_stream("aac", rate=RATE, layout="mono")
        for i in range(frames):
            frame = np.full((240, 320), 110, np.uint8)
            x = 80 + (i % 40 if (i // 40) % 2 == 0 else 39 - i % 40)
            frame[60:180, x : x + 120] = face
            image = av.VideoFrame.from_ndarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), "bgr24")
            out.mux(video.encode(image))
        out.mux(video.encode(None))
        tone = (0.4 * np.sin(2 * np.pi * 440 * np.arange(RATE * frames // FPS) / RATE)).astype(
            np.float32
        )
        for start in range(0, len(tone), 1024):
            block = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], "flt", "mono")
            block.sample_rate, block.pts = RATE, start
            out.mux(sound.encode(block))
        out.mux(sound.encode(None))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    if not (YUNET.is_file()):
        pytest.skip(f"needs the YuNet file at {YUNET}")
    root = tmp_path_factory.mktemp("trust")
    tiny_checkpoint(root / "av.safetensors", audio_visual=True)
    return root


def analyze_args(work: Path, video: Path, out: Path, *extra: str) -> list[str]:
    return [
        "analyze", str(video), "--out", str(out), "--checkpoint", str(work / "av.safetensors"),
        "--backend", "torch", "--detector-model", str(YUNET), "-q", *extra,
    ]  # fmt: skip


def start_analyze(work: Path, video: Path, out: Path) -> subprocess.Popen:
    code = "import sys; from avaffect.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, *analyze_args(work, video, out)],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def wait_for_rows(proc: subprocess.Popen, csv_path: Path, rows: int, timeout: float = 90.0) -> int:
    """Poll the CSV *while the run goes on*: rows are on disk as they are written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        if csv_path.is_file() and (n := len(csv_rows(csv_path)) - 1) >= rows:
            return n
        time.sleep(0.05)
    raise AssertionError(f"the run wrote fewer than {rows} rows in {timeout} s")


def decoded_frames(path: Path) -> int:
    """Frames PyAV decodes from ``path`` (reading to the end raises on a damaged file)."""
    with av.open(str(path)) as clip:
        return sum(1 for _ in clip.decode(video=0))


@pytest.fixture(scope="module")
def long_video(work):
    if not YUNET.is_file():
        pytest.skip("needs YuNet")
    return write_video(work / "long.mp4", frames=600)  # 40 s: every run here is stopped early


@needs_faces
def test_sigkill_mid_run_leaves_whole_rows_and_a_video_that_plays_to_its_last_frame(
    work, long_video
):
    out = work / "killed"
    proc = start_analyze(work, long_video, out)
    seen = wait_for_rows(proc, out / "results.csv", rows=3 * FPS + 10)  # past a fragment
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    rows = csv_rows(out / "results.csv")
    assert rows[0] == row_columns() and len(rows) - 1 >= seen
    assert all(len(r) == len(row_columns()) for r in rows)  # no half-written row
    jsonl = (out / "results.jsonl").read_text().splitlines()
    assert all(json.loads(line)["frame"] >= 0 for line in jsonl)  # every line whole
    video = out / "annotated.mp4"
    # Either a playable file of what was written (here: at least the first second) or none.
    assert video.is_file(), "three seconds in, the first fragment is published"
    assert FPS <= decoded_frames(video) <= max(int(r[0]) for r in rows[1:]) + 1
    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened() and cap.read()[0], "OpenCV plays it too"
    assert not (out / "summary.json").exists()  # nobody was there to write it
    assert not (out / LOCK_NAME).exists() or _lock_is_free(out)


def _lock_is_free(out: Path) -> bool:
    with RunFolder(out, (), overwrite=True):
        return True


@needs_faces
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_cleanly_with_their_status_and_an_interrupted_summary(
    work, long_video, signum
):
    out = work / f"stopped_{signum.name}"
    proc = start_analyze(work, long_video, out)
    wait_for_rows(proc, out / "results.csv", rows=FPS)
    proc.send_signal(signum)
    assert proc.wait(60) == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["status"] == "interrupted"
    assert signum.name in summary["reason"] and summary["exit_status"] == proc.returncode
    rows = csv_rows(out / "results.csv")[1:]
    assert 0 < summary["frames"] < 600 and summary["face_rows"] == len(rows)
    # Closed properly: every frame written is in the video, the sound with it.
    assert decoded_frames(out / "annotated.mp4") >= summary["frames"] - 1
    assert not (out / LOCK_NAME).exists()


@needs_faces
def test_a_locked_folder_is_refused_at_once_naming_the_run_that_holds_it(work, capsys):
    out = work / "locked"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from avaffect.realtime.run_folder import "
         "RunFolder; RunFolder(sys.argv[1], ['results.csv'], command='avaffect analyze other.mp4')"
         ".acquire(); print('locked', flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        video = write_video(work / "short.mp4", frames=8)
        assert main(analyze_args(work, video, out)) == run_status.EXIT_ERROR
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"pid {holder.pid}" in err[0]
        assert "avaffect analyze other.mp4" in err[0] and "in use by another run" in err[0]
        assert not (out / "results.csv").exists()
    finally:
        holder.kill()  # kill -9: the kernel drops its lock, nothing stale is left
        holder.wait()
    assert main(analyze_args(work, video, out)) == 0


@needs_faces
def test_a_finished_folder_is_refused_without_overwrite_and_replaced_with_it(work, capsys):
    out = work / "finished"
    video = write_video(work / "short8.mp4", frames=8)
    assert main(analyze_args(work, video, out)) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["status"] == "complete"
    assert summary["exit_status"] == 0 and summary["frames"] == summary["frames_read"] == 8
    capsys.readouterr()

    assert main(analyze_args(work, video, out)) == run_status.EXIT_ERROR
    err = capsys.readouterr().err
    assert "already holds the results of an earlier run" in err and "--overwrite" in err

    (out / "notes.txt").write_text("mine")  # not a result: --overwrite leaves it alone
    (out / "results.jsonl").write_text('{"frame": 999}\n')  # a stale result: removed first
    assert main(analyze_args(work, video, out, "--overwrite")) == 0
    assert len(csv_rows(out / "results.csv")) == 1 + 8  # one run's rows, not two
    assert all(json.loads(x)["frame"] < 8 for x in (out / "results.jsonl").read_text().splitlines())
    assert (out / "notes.txt").read_text() == "mine"


@needs_faces
def test_a_truncated_video_is_analyzed_as_far_as_it_goes_and_flagged_incomplete(
    work, caplog
):
    whole = write_video(work / "whole.mp4", frames=90, faststart=True)
    cut = work / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.3)])
    out = work / "cut_out"
    with caplog.at_level("WARNING", logger="avaffect"):
        status = main(analyze_args(work, cut, out))
    assert status == run_status.EXIT_INCOMPLETE == 3
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "of the 90 frames" in warnings[0].getMessage()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["status"] == "incomplete"
    assert "of the 90 frames" in summary["reason"] and summary["exit_status"] == 3
    assert 0 < summary["frames"] < 90 and summary["frames_in_container"] == 90
    assert decoded_frames(out / "annotated.mp4") == summary["frames"]


def test_the_exit_statuses_are_distinct_and_follow_the_shell_convention():
    statuses = {
        run_status.EXIT_OK, run_status.EXIT_ERROR, run_status.EXIT_INCOMPLETE,
        run_status.EXIT_SIGINT, run_status.EXIT_SIGTERM, run_status.EXIT_BROKEN_PIPE,
    }  # fmt: skip
    assert len(statuses) == 6 and 1 not in statuses  # 1 stays Python's own crash status
    assert (run_status.EXIT_SIGINT, run_status.EXIT_SIGTERM) == (
        128 + signal.SIGINT,
        128 + signal.SIGTERM,
    )
