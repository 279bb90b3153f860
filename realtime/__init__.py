"""Real time: camera and microphone in sync, faces tracked with their own GRU state, overlays
and sinks, behind `avaffect live` and `avaffect analyze`. See docs/realtime.md.

The names below are imported on first use, so that `avaffect --help` (whose flag groups
import realtime/options.py, and so this package) does not pay for OpenCV.
"""

from __future__ import annotations

from avaffect.lazy import lazy_exports

_EXPORTS = {
    "Pipeline": "pipeline",
    "FrameResult": "analyzer",
    "FrameAnalyzer": "analyzer",
    "VideoSource": "video_source",
    "Frame": "video_source",
    "AudioRingBuffer": "ring_buffer",
    "RingAudio": "audio_input",
    "MicSource": "mic_source",
    "FileAudio": "file_audio",
    "FaceFinder": "faces",
    "create_detector": "detectors",
    "Tracker": "tracking",
    "TrackedEngine": "tracked_engine",
    "Overlay": "overlay",
    "CsvSink": "sinks",
    "JsonlSink": "sinks",
    "VideoSink": "sinks",
    "FragmentedMp4Writer": "video_writer",
    "RunFolder": "run_folder",
    "RunStats": "stats",
    "run_session": "session",
    "RunOptions": "options",
    "DetectorOptions": "options",
    "AudioOptions": "options",
    "build_pipeline": "stream",
    "build_analyzer": "stream",
    "LiveOptions": "runs",
    "AnalyzeOptions": "runs",
    "run_live": "runs",
    "run_analyze": "runs",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
