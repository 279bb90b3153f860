"""Each run-time option is declared once and reaches every run-time command: the engine and
detector flags of `live`, `analyze`, `serve` and `bench` land in the same options fields, and a
flag left out keeps the options class's own default."""

from __future__ import annotations

from dataclasses import fields

import pytest

from avaffect.cli import build_parser
from avaffect.cli.flags import options_from
from avaffect.demo.bench.run import BenchOptions
from avaffect.demo.options import ServeOptions
from avaffect.engines.options import EngineOptions
from avaffect.errors import AvaffectError
from avaffect.realtime.options import DetectorOptions, RunOptions
from avaffect.realtime.runs import AnalyzeOptions, LiveOptions

#: command -> (its arguments besides the stream's, its options class, its backend/precision flags)
COMMANDS = {
    "live": ([], LiveOptions, "--backend", "--precision"),
    "analyze": (["talk.mp4"], AnalyzeOptions, "--backend", "--precision"),
    "serve": ([], ServeOptions, "--backend", "--precision"),
    "bench": ([], BenchOptions, "--pipeline-backend", "--pipeline-precision"),
}
STREAM = {
    "checkpoint": "m.safetensors", "backend": "onnxruntime", "device": "cpu", "precision": "fp16",
    "max_faces": 3, "detector": "haar", "detector_model": "yunet.onnx", "detect_size": 640,
    "detect_every": 2, "every_frame": True,
}  # fmt: skip


def test_every_engine_and_detector_field_has_a_value_in_the_table_above():
    assert set(STREAM) == {f.name for f in fields(EngineOptions)} | {f.name for f in fields(DetectorOptions)}


@pytest.mark.parametrize("command", COMMANDS)
def test_the_stream_flags_reach_the_same_fields_in_every_command(command):
    extra, cls, backend, precision = COMMANDS[command]
    argv = [
        command, *extra, "--checkpoint", STREAM["checkpoint"], backend, STREAM["backend"],
        "--device", STREAM["device"], precision, STREAM["precision"], "--max-faces", "3",
        "--detector", "haar", "--detector-model", STREAM["detector_model"], "--detect-size", "640",
        "--detect-every", "2", "--every-frame",
    ]  # fmt: skip
    options = options_from(cls, build_parser().parse_args(argv))
    assert isinstance(options, RunOptions)
    assert {name: getattr(options, name) for name in STREAM} == STREAM


@pytest.mark.parametrize("command", COMMANDS)
def test_a_flag_left_out_keeps_the_options_class_default(command):
    extra, cls, _, _ = COMMANDS[command]
    options = options_from(cls, build_parser().parse_args([command, *extra]))
    given = {}  # analyze's INPUTs are a list: the command sets each run's video itself
    if command == "bench":
        given["sections"] = options.sections  # the command picks them from --engines & co.
    assert options == cls(**given)


def test_analyze_flags_become_its_outputs_and_sound():
    args = build_parser().parse_args(
        ["analyze", "talk.mp4", "--out", "res", "--no-video", "--no-audio", "--overwrite"]
    )
    options = options_from(AnalyzeOptions, args)
    assert (options.out, options.annotated, options.audio, options.overwrite) == ("res", False, False, True)
    assert str(options.out_dir()) == "res"
    assert AnalyzeOptions(video="clips/talk.mp4").out_dir().as_posix() == "clips/talk_avaffect"


def test_a_concern_checks_its_fields_in_every_composition():
    for cls in (RunOptions, LiveOptions, ServeOptions, BenchOptions):
        with pytest.raises(AvaffectError, match="--max-faces must be at least 1"):
            cls(max_faces=0)
