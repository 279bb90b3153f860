"""A photo through the same per-frame analysis as a live frame: every face annotated.

A photo is one frame of a new stream (every face starts from a zero GRU state). An
audio-visual model is given silence, since a photo has no sound; the page says so.
"""

from __future__ import annotations

import numpy as np

from avaffect.engines import Engine
from avaffect.errors import AvaffectError
from avaffect.realtime.analyzer import FrameAnalyzer, FrameResult
from avaffect.realtime.audio_input import RingAudio
from avaffect.realtime.detectors import create_detector
from avaffect.realtime.faces import FaceFinder
from avaffect.realtime.overlay import Overlay
from avaffect.realtime.ring_buffer import AudioRingBuffer
from avaffect.realtime.video_source import Frame

NO_FACE = "no face found in this image; upload a photo where a face is clearly visible"


def analyze_photo(
    engine: Engine,
    image_bgr: np.ndarray,
    *,
    detector: str = "yunet",
    detector_model: str | None = None,
    max_faces: int = 8,
) -> tuple[np.ndarray, FrameResult]:
    """(annotated BGR copy, the frame's result) for one photo; an error when it has no face."""
    spec = engine.spec
    finder = FaceFinder(
        create_detector(detector, detector_model),
        spec.face,
        max_faces=min(max_faces, spec.max_faces or max_faces),
    )
    silence = None
    if spec.uses_audio:  # an empty ring buffer reads as silence
        silence = RingAudio(
            AudioRingBuffer(spec.audio.sample_rate, spec.audio.context_s), spec.audio
        )
    analyzer = FrameAnalyzer(finder, engine, silence, audio_wait_s=0.0)
    result = analyzer.process(Frame(image_bgr, 0, 0.0, analyzer.clock()))
    if not result.faces:
        raise AvaffectError(NO_FACE)
    return Overlay().draw(result), result
