"""A photo through the same per-frame analysis as a live frame: every face annotated.

A photo is one frame of a new stream (every face starts from a zero GRU state). An
audio-visual model is given silence, since a photo has no sound; the page says so.
"""

from __future__ import annotations

import numpy as np

from avaffect.engines import Engine
from avaffect.errors import AvaffectError
from avaffect.realtime.analyzer import FrameResult
from avaffect.realtime.audio_input import RingAudio
from avaffect.realtime.options import RunOptions
from avaffect.realtime.overlay import Overlay
from avaffect.realtime.ring_buffer import AudioRingBuffer
from avaffect.realtime.stream import build_analyzer
from avaffect.realtime.video_source import Frame

NO_FACE = "no face found in this image; upload a photo where a face is clearly visible"


def analyze_photo(
    engine: Engine,
    image_bgr: np.ndarray,
    options: RunOptions | None = None,
) -> tuple[np.ndarray, FrameResult]:
    """(annotated BGR copy, the frame's result) for one photo; an error when it has no face."""
    spec = engine.spec
    silence = None
    if spec.uses_audio:  # an empty ring buffer reads as silence
        silence = RingAudio(
            AudioRingBuffer(spec.audio.sample_rate, spec.audio.context_s), spec.audio
        )
    analyzer = build_analyzer(options or RunOptions(), engine, silence, audio_wait_s=0.0)
    result = analyzer.process(Frame(image_bgr, 0, 0.0, analyzer.clock()))
    if not result.faces:
        raise AvaffectError(NO_FACE)
    return Overlay().draw(result), result
