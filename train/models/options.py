"""Constructor options every model shares: the width rule, and one-line errors for bad values.

Model keyword arguments are stored in checkpoints as JSON, so they are plain numbers, strings
and lists; a bad one is the user's mistake and gets an :class:`AvaffectError`, not a deep
shape error from inside a layer.
"""

from __future__ import annotations

import math

from avaffect.errors import AvaffectError

from .base import TASKS


def check_width(width: float) -> float:
    """A width multiplier scales every channel count and fc size; it must be a positive number."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise AvaffectError(
            f"width must be a positive number (1.0 = the paper's size), got {width!r}"
        )
    return float(width)


def scaled(size: int, width: float) -> int:
    """``size`` channels (or units) at width multiplier ``width``; never less than one."""
    return max(1, int(round(size * width)))


def halved(size: int, times: int) -> int:
    """Spatial size after ``times`` stride-2 steps that round up (2x2 ceil-mode pools, or 3x3
    convs of stride 2 with padding 1): how backbones size the fc behind their last conv."""
    for _ in range(times):
        size = (size + 1) // 2
    return size


def check_dropout(dropout: float) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise AvaffectError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    return float(dropout)


def check_task(task: str) -> tuple[str, ...]:
    """The single task of an ST model, as the model's ``tasks`` tuple."""
    if task not in TASKS:
        raise AvaffectError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return (task,)


def check_counts(name: str, counts, length: int, minimum: int = 0) -> tuple[int, ...]:
    """Block or unit counts per stage, e.g. ``blocks=[5, 10, 5]``."""
    ok = (
        isinstance(counts, (list, tuple))
        and len(counts) == length
        and all(isinstance(c, int) and not isinstance(c, bool) and c >= minimum for c in counts)
    )
    if not ok:
        raise AvaffectError(
            f"{name} must be a list of {length} integers of at least {minimum}, got {counts!r}"
        )
    return tuple(counts)


def check_flag(name: str, value) -> bool:
    """A yes/no model option (JSON true/false); ``"false"`` from a command line is not a flag."""
    if not isinstance(value, bool):
        raise AvaffectError(f"{name} must be true or false, got {value!r}")
    return value


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AvaffectError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_scale_margin(scale: float, margin: float) -> tuple[float, float]:
    """ArcFace scale ``s`` (> 0) and additive angular margin ``m`` (radians, in [0, pi/2))."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise AvaffectError(
            f"ArcFace scale must be a positive number (e.g. 30 or 64), got {scale!r}"
        )
    if (
        isinstance(margin, bool)
        or not isinstance(margin, (int, float))
        or not 0 <= margin < math.pi / 2
    ):
        raise AvaffectError(
            f"ArcFace margin must be in [0, pi/2) radians (e.g. 0.5), got {margin!r}"
        )
    return float(scale), float(margin)


def face_input_shape(face_size: int, in_channels: int) -> tuple[int, int, int]:
    """The face input per frame, [C, S, S]; the contract's crop is 3 x 96 x 96."""
    check_positive_int("in_channels", in_channels)
    if isinstance(face_size, bool) or not isinstance(face_size, int) or face_size < 32:
        raise AvaffectError(
            f"face_size must be an integer of at least 32 (default 96), got {face_size!r}"
        )
    return (in_channels, face_size, face_size)


def spectrogram_input_shape(shape) -> tuple[int, int, int]:
    """The spectrogram input per frame, [1, bins, time frames] (``SpectrogramConfig().shape``)."""
    ok = (
        isinstance(shape, (list, tuple))
        and len(shape) == 3
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape)
    )
    if not ok:
        raise AvaffectError(
            f"spectrogram_shape must be [channels, bins, frames] of positive integers "
            f"(see avaffect.audio.SpectrogramConfig().shape), got {shape!r}"
        )
    return tuple(shape)
