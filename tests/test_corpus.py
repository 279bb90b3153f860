"""A corpus as a user runs it: `avaffect analyze FOLDER --out DIR --jobs 2`, then the same
command again; a truncated video and a file that is no video among the inputs; the index
read back with pandas; the same corpus through a local Ray instance."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from demo_support import FER, YUNET, fer_faces, tiny_checkpoint

import avaffect
from avaffect.cli import main
from avaffect.corpus.index import COLUMNS, DTYPES
from avaffect.corpus.inputs import find_inputs
from avaffect.corpus.runner import corpus_exit_status
from avaffect.errors import AvaffectError
from avaffect.run_status import EXIT_INCOMPLETE, EXIT_INPUTS_FAILED, EXIT_OK, EXIT_SIGTERM

av = pytest.importorskip("av", reason="PyAV (the 'audio' extra) writes the test videos")


def write_clip(path: Path, frames: int, faststart: bool = False) -> Path:
    """A 160x120 clip of a FER2013 face drifting sideways, 15 fps, no sound."""
    face = cv2.resize(fer_faces(2)[1], (64, 64), interpolation=cv2.INTER_CUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("mpeg4", rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(frames):
            grey = np.full((120, 160), 110, np.uint8)
            grey[28:92, 30 + i % 40 : 94 + i % 40] = face
            image = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, "bgr24")))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """videos/a/clip.mp4 and videos/b/clip.mp4 (same name), videos/cut.mp4 (its last 70%
    cut off) and videos/notes.mp4 (text); a tiny visual checkpoint."""
    if not FER.is_file():
        pytest.skip(f"needs FER2013 faces at {FER}")
    root = tmp_path_factory.mktemp("corpus")
    videos = root / "videos"
    write_clip(videos / "a" / "clip.mp4", 12)
    write_clip(videos / "b" / "clip.mp4", 12)
    whole = write_clip(root / "whole.mp4", 45, faststart=True)
    data = whole.read_bytes()
    (videos / "cut.mp4").write_bytes(data[: int(len(data) * 0.4)])
    (videos / "notes.mp4").write_text("not a video\n")
    (videos / ".hidden.mp4").write_text("skipped: hidden\n")
    tiny_checkpoint(root / "tiny.safetensors")
    return root


def analyze(corpus: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "analyze", str(corpus / "videos"), "--out", str(out),
            "--checkpoint", str(corpus / "tiny.safetensors"), "--backend", "torch",
            "--detector-model", str(YUNET), "--no-video", "-q", *extra,
        ]
    )  # fmt: skip


def test_inputs_are_found_in_folders_and_globs_and_named_without_collisions(tmp_path):
    for name in ("x/talk.mp4", "y/talk.mp4", "y/talk.mov", "y/photo.JPG", "y/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    out = tmp_path / "y" / "results"
    (out / "talk_mp4").mkdir(parents=True)
    (out / "talk_mp4" / "annotated.mp4").write_bytes(b"")  # an earlier result: not an input
    found = find_inputs(
        [str(tmp_path / "x"), str(tmp_path / "y" / "*.m*"), str(tmp_path / "y")], out
    )
    assert [i.name for i in found] == ["x/talk_mp4", "y/photo_JPG", "y/talk_mov", "y/talk_mp4"]
    assert all(i.path.is_absolute() for i in found)
    with pytest.raises(AvaffectError, match="no such file or folder"):
        find_inputs([str(tmp_path / "missing.mp4")])
    with pytest.raises(AvaffectError, match="matches no file"):
        find_inputs([str(tmp_path / "*.avi")])


def test_the_corpus_exit_status_is_0_only_when_every_input_is_complete():
    rows = lambda *s: [{"status": x} for x in s]  # noqa: E731
    assert corpus_exit_status(rows("complete", "complete")) == EXIT_OK
    assert corpus_exit_status(rows("complete", "incomplete")) == EXIT_INCOMPLETE
    assert corpus_exit_status(rows("incomplete", "failed")) == EXIT_INPUTS_FAILED == 4
    assert corpus_exit_status(rows("complete"), interrupted_by=EXIT_SIGTERM) == EXIT_SIGTERM


@pytest.mark.slow
def test_a_corpus_runs_in_two_processes_resumes_and_leaves_an_index_pandas_reads(corpus, capsys):
    out = corpus / "results"
    assert analyze(corpus, out, "--jobs", "2") == EXIT_INPUTS_FAILED
    report = capsys.readouterr().err
    assert "notes_mp4: failed" in report and "cut_mp4: incomplete" in report

    index = avaffect.read_index(out)
    assert list(index.columns) == COLUMNS
    if importlib.util.find_spec("pyarrow") is not None:  # then index.parquet holds the same
        assert avaffect.read_index(out / "index.parquet").equals(index)
    assert {c: str(t) for c, t in index.dtypes.items()} == DTYPES
    rows = index.set_index("output")
    assert list(rows.index) == ["a/clip_mp4", "b/clip_mp4", "cut_mp4", "notes_mp4"]
    for name in ("a/clip_mp4", "b/clip_mp4"):
        row = rows.loc[name]
        assert row.status == "complete" and row.exit_status == 0 and row.frames == 12
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["complete"] and row.faces == summary["face_rows"] > 0
        assert -1 <= row.valence_mean <= 1 and row.dominant_expression in avaffect.EXPRESSIONS
        assert row.seconds > 0
    cut = rows.loc["cut_mp4"]
    assert cut.status == "incomplete" and cut.exit_status == 3 and "of the 45 frames" in cut.reason
    notes = rows.loc["notes_mp4"]
    assert notes.status == "failed" and notes.exit_status == 2 and "cannot open" in notes.reason
    assert "cannot open" in (out / "notes_mp4" / "log.txt").read_text()

    # The same command again: the complete inputs are skipped, the others redone.
    done = {
        name: (out / name / "summary.json").stat().st_mtime_ns
        for name in ("a/clip_mp4", "b/clip_mp4")
    }
    assert analyze(corpus, out, "--jobs", "2") == EXIT_INPUTS_FAILED
    assert "2 run now, 2 complete already" in capsys.readouterr().err
    assert {n: (out / n / "summary.json").stat().st_mtime_ns for n in done} == done
    again = avaffect.read_index(out).set_index("output")
    assert again.loc["a/clip_mp4"].seconds == rows.loc["a/clip_mp4"].seconds  # the earlier row
    assert again.loc["cut_mp4"].status == "incomplete" and again.loc["notes_mp4"].status == "failed"

    # Each input's folder is an ordinary `avaffect analyze` folder, readable as a DataFrame.
    faces = avaffect.read_results(out / "a" / "clip_mp4")
    assert len(faces) == rows.loc["a/clip_mp4"].faces and faces.attrs["summary"]["complete"]


@pytest.mark.slow
def test_the_same_corpus_runs_as_tasks_on_a_local_ray_instance(corpus):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'avaffect[cluster]')")
    out = corpus / "ray_results"
    index = avaffect.analyze_corpus(  # from Python this time, as a notebook would
        corpus / "videos", out, ray=True, checkpoint=str(corpus / "tiny.safetensors"),
        backend="torch", detector_model=str(YUNET), annotated=False, progress=False,
    )  # fmt: skip
    assert index.attrs["exit_status"] == EXIT_INPUTS_FAILED
    assert index.equals(avaffect.read_index(out))
    rows = index.set_index("output")
    assert rows.loc["a/clip_mp4"].status == rows.loc["b/clip_mp4"].status == "complete"
    assert rows.loc["cut_mp4"].status == "incomplete" and rows.loc["notes_mp4"].status == "failed"
    assert rows.loc["a/clip_mp4"].frames == 12


@pytest.mark.slow
def test_a_corpus_stopped_by_sigterm_says_so_and_the_same_command_finishes_it(corpus, tmp_path):
    videos = tmp_path / "videos"
    write_clip(videos / "long.mp4", 240)
    write_clip(videos / "short.mp4", 6)
    out = tmp_path / "results"
    argv = [
        "analyze", str(videos), "--out", str(out), "--jobs", "2", "--checkpoint",
        str(corpus / "tiny.safetensors"), "--backend", "torch", "--detector-model", str(YUNET),
        "--no-video", "-q",
    ]  # fmt: skip
    code = "import sys; from avaffect.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], stderr=subprocess.PIPE, text=True)
    rows = out / "long_mp4" / "results.csv"
    deadline = time.monotonic() + 120
    while not (rows.is_file() and len(rows.read_text().splitlines()) > 5):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == EXIT_SIGTERM
    assert "re-run the same command" in proc.stderr.read()
    long = avaffect.read_index(out).set_index("output").loc["long_mp4"]
    assert (
        long.status == "interrupted" and long.exit_status == EXIT_SIGTERM and 0 < long.frames < 240
    )

    assert main(argv) == EXIT_OK
    index = avaffect.read_index(out).set_index("output")
    assert (index.status == "complete").all() and index.loc["long_mp4"].frames == 240


def test_bench_corpus_times_the_same_inputs_at_each_jobs_value(corpus, capsys):
    status = main(
        [
            "bench", "--corpus", str(corpus / "videos" / "a"), str(corpus / "videos" / "b"),
            "--corpus-jobs", "1", "2", "--checkpoint", str(corpus / "tiny.safetensors"),
            "--pipeline-backend", "torch", "--detector-model", str(YUNET), "--json", "-", "-q",
        ]
    )  # fmt: skip
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["jobs"] for r in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert run["files"] == run["complete"] == 2 and run["frames"] == 24
        # frames/s is frames over the seconds, up to the rounding of both figures
        slack = 0.0005 * run["frames_per_s"] + 0.005 * run["seconds"]
        assert abs(run["frames_per_s"] * run["seconds"] - 24) <= slack
    assert result["runs"][0]["speedup"] == 1.0 and result["options"]["backend"] == "torch"
