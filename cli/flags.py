"""The flag groups the run-time commands share, one per options class, and the one way back
from parsed flags to options.

Each group adds the flags of one concern (engine, detector, audio, ...) with ``dest`` set to
the field's name and no default of its own (``SUPPRESS``): a flag left out leaves the field at
the dataclass's default, so every default is declared once, in the options class, and
:func:`options_from` builds any composed options class from the namespace without copying
field by field. Choices come from the real constants (``PRECISIONS``, ``DETECTORS``...).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TypeVar

from avaffect.engines.options import BACKEND_CHOICES, PRECISION_CHOICES, EngineOptions
from avaffect.realtime.options import (
    DEFAULT_DETECT_EVERY,
    DEFAULT_DETECT_SIZE,
    DETECTORS,
    MIC_BACKENDS,
    AudioOptions,
)

T = TypeVar("T")
UNSET = argparse.SUPPRESS


def options_from(cls: type[T], args: argparse.Namespace, **given) -> T:
    """``cls`` from the flags that were given (the rest keep the class's defaults) and
    ``given`` (what a command sets itself, such as a positional argument)."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {name: value for name, value in vars(args).items() if name in names}
    return cls(**{**values, **given})


def add_quiet_flag(p: argparse.ArgumentParser, help: str = "only warnings and errors") -> None:
    p.add_argument("-q", "--quiet", action="store_true", help=help)


def add_engine_flags(
    p: argparse.ArgumentParser,
    *,
    checkpoint_into: argparse._ActionsContainer | None = None,
    flag_prefix: str = "",
    precision_help: str = f"(default: {EngineOptions.precision}: int8 on ONNX Runtime on the CPU where the "
    "model is calibrated, as the shipped face and fused ones are; else fp32)",
    checkpoint_help: str = "shipped model name (avaffect models --shipped) or .safetensors checkpoint "
    "(default: default_av_fer2013_crema_d_ravdess when there is sound, else default_stream_fer2013)",
) -> None:
    """:class:`EngineOptions`: --checkpoint, --backend, --device, --precision, --max-faces,
    --every-frame.
    ``checkpoint_into``: a (mutually exclusive) group for --checkpoint; ``flag_prefix``
    renames --backend and --precision (bench: --pipeline-backend)."""
    g = p.add_argument_group("engine (EngineOptions)")
    (checkpoint_into or g).add_argument(
        "--checkpoint", metavar="NAME|PATH", default=UNSET, help=checkpoint_help
    )
    g.add_argument(
        f"--{flag_prefix}backend", dest="backend", default=UNSET, metavar="BACKEND",
        help=f"engine backend: {', '.join(BACKEND_CHOICES)} (default: {EngineOptions.backend})",
    )  # fmt: skip
    g.add_argument(
        "--device", default=UNSET, help="cpu, cuda or cuda:N (default: the backend's choice)"
    )
    g.add_argument(
        f"--{flag_prefix}precision", dest="precision", default=UNSET, choices=PRECISION_CHOICES,
        help=precision_help,
    )  # fmt: skip
    g.add_argument(
        "--max-faces", type=int, default=UNSET, metavar="N",
        help=f"most faces per frame (default: {EngineOptions.max_faces})",
    )  # fmt: skip
    g.add_argument(
        "--every-frame", action="store_true", default=UNSET,
        help="step a recurrent model on every frame (default: at the rate it was trained at, "
        "as its checkpoint records: the voice 2.5 steps a second, the fused model 10; each "
        "face keeps its last outputs in between)",
    )  # fmt: skip


def add_detector_flags(p: argparse.ArgumentParser) -> None:
    """:class:`DetectorOptions`: --detector, --detector-model, --detect-size, --detect-every."""
    g = p.add_argument_group("face detector (DetectorOptions)")
    g.add_argument(
        "--detector", default=UNSET, choices=DETECTORS,
        help=f"face detector (default: {DETECTORS[0]})",
    )  # fmt: skip
    g.add_argument(
        "--detector-model", metavar="PATH", default=UNSET,
        help="YuNet .onnx file (default: $AVAFFECT_YUNET, else the copy shipped in the package)",
    )  # fmt: skip
    g.add_argument(
        "--detect-size", type=int, default=UNSET, metavar="PX",
        help=f"search larger frames for faces at this longer side (default: {DEFAULT_DETECT_SIZE}, "
        "which keeps a 2-core CPU at 30 FPS; raise it for small, distant faces)",
    )  # fmt: skip
    g.add_argument(
        "--detect-every", type=int, default=UNSET, metavar="K",
        help="search the whole frame for faces every K frames and re-find tracked faces near "
        "their last box in between; a lost track or no face searches at once "
        f"(default: {DEFAULT_DETECT_EVERY}; 1: every frame)",
    )  # fmt: skip


def add_audio_flags(p: argparse.ArgumentParser, *, microphone: bool = False) -> None:
    """:class:`AudioOptions`: --no-audio, and with ``microphone`` --mic and --mic-backend."""
    g = p.add_argument_group("sound (AudioOptions)")
    g.add_argument(
        "--no-audio", dest="audio", action="store_false", default=UNSET,
        help="ignore sound: the visual default runs (an A/V checkpoint is refused)",
    )  # fmt: skip
    if microphone:
        g.add_argument(
            "--mic", metavar="DEVICE", default=UNSET,
            help="microphone index or name (default: the system's input)",
        )  # fmt: skip
        g.add_argument(
            "--mic-backend", default=UNSET, choices=MIC_BACKENDS,
            help=f"(default: {AudioOptions.mic_backend})",
        )  # fmt: skip
