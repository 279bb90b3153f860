"""One browser tab's live analysis: its own tracks, GRU states, overlay trails and microphone.

The browser sends webcam frames (and microphone chunks) over Gradio's streaming events; each
tab's :class:`LiveSession` lives in that tab's ``gr.State``, so two tabs never share tracks or
states, while all of them share one engine (:class:`~avaffect.demo.shared_engine.SharedEngine`).

The browser sends no capture times, so frames and sound are stamped on the server's
monotonic clock when they arrive: a chunk of sound is taken to end when it arrives. Both
travel the same connection, so the measured A/V skew stays within about one sound chunk.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from avaffect.audio import SpectrogramConfig
from avaffect.engines import Engine
from avaffect.realtime.analyzer import FrameResult
from avaffect.realtime.audio_input import RingAudio
from avaffect.realtime.options import RunOptions
from avaffect.realtime.overlay import Overlay
from avaffect.realtime.ring_buffer import AudioRingBuffer
from avaffect.realtime.stream import build_analyzer
from avaffect.realtime.video_source import Frame
from avaffect.record import FaceResult

HISTORY_S = 10.0  # how much valence/arousal history the live plot shows
FPS_WINDOW = 30  # frames the live FPS is measured over (a stopped and restarted webcam
# must not drag an all-session average down)


class BrowserMic:
    """The microphone chunks a browser streams, as an ``AudioInput`` for the analyzer.

    The ring buffer runs at the browser's own rate (known only from the first chunk); each
    window is resampled to the model's rate by :class:`RingAudio`. Before any chunk arrives
    the model hears silence and the skew is unknown.
    """

    kind = "microphone"

    def __init__(self, cfg: SpectrogramConfig, seconds: float = 5.0) -> None:
        self.cfg = cfg
        self.seconds = seconds
        self.chunks = 0
        self._input = RingAudio(AudioRingBuffer(cfg.sample_rate, seconds), cfg)

    def write(self, sample_rate: int, samples: np.ndarray, end_time: float) -> None:
        """Store one chunk (int16 or float, mono or [n, channels]) that ended at ``end_time``."""
        mono = _to_mono_float(samples)
        if sample_rate != self._input.ring.sample_rate:
            self._input = RingAudio(AudioRingBuffer(sample_rate, self.seconds), self.cfg)
        self._input.ring.write(mono, end_time - len(mono) / sample_rate)
        self.chunks += 1

    def available_until(self) -> float | None:
        return self._input.available_until()

    def spectrogram(self, end_time: float) -> tuple[np.ndarray, float]:
        return self._input.spectrogram(end_time)

    def close(self) -> None:
        pass


def _to_mono_float(samples: np.ndarray) -> np.ndarray:
    audio = np.asarray(samples)
    scale = 32768.0 if audio.dtype == np.int16 else (2.0**31 if audio.dtype == np.int32 else 1.0)
    audio = audio.astype(np.float32) / np.float32(scale)
    return audio.mean(axis=1) if audio.ndim == 2 else audio.reshape(-1)


@dataclass
class LiveUpdate:
    """What one webcam frame gives back to the page."""

    annotated_rgb: np.ndarray
    result: FrameResult
    fps: float | None
    latency_ms: float


class LiveSession:
    """Everything one browser tab needs between its frames. Thread-safe: a frame that
    arrives while the previous one is still being analysed is dropped (and counted), as a
    live camera's stale frames are."""

    def __init__(
        self,
        engine: Engine,
        options: RunOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        spec = engine.spec
        self.mic = BrowserMic(spec.audio) if spec.uses_audio else None
        # No waiting for sound: the browser's chunks arrive every few hundred milliseconds,
        # and a live picture must not stall for them; the gap is reported as skew instead.
        self.analyzer = build_analyzer(
            options or RunOptions(), engine, self.mic, audio_wait_s=0.0, clock=clock
        )
        self.overlay = Overlay()
        self.clock = clock
        self.frames_received = 0
        self.frames_dropped = 0
        self.history: deque[tuple[float, FaceResult]] = deque()
        self.started_at = clock()
        self.plots_shown_at = -math.inf  # when the page's plots were last sent
        self._recent: deque[float] = deque(maxlen=FPS_WINDOW)
        self._lock = threading.Lock()

    @property
    def uses_audio(self) -> bool:
        return self.mic is not None

    def add_audio(self, sample_rate: int, samples: np.ndarray) -> None:
        """A microphone chunk from the browser, stamped on arrival."""
        if self.mic is not None and len(samples):
            self.mic.write(int(sample_rate), samples, self.clock())

    def process(self, image_rgb: np.ndarray) -> LiveUpdate | None:
        """Analyse one webcam frame (RGB, as Gradio delivers it); None when it was dropped
        because this tab's previous frame is still being analysed."""
        arrived = self.clock()
        if not self._lock.acquire(blocking=False):
            self.frames_dropped += 1
            return None
        try:
            return self._process(image_rgb, arrived)
        finally:
            self._lock.release()

    def _process(self, image_rgb: np.ndarray, arrived: float) -> LiveUpdate:
        image = cv2.cvtColor(np.ascontiguousarray(image_rgb[..., :3]), cv2.COLOR_RGB2BGR)
        frame = Frame(image, self.frames_received, arrived, arrived)
        self.frames_received += 1
        result = self.analyzer.process(frame)
        if self._recent and arrived - self._recent[-1] > 2.0:
            self._recent.clear()  # the webcam was stopped: a new run of frames
        self._recent.append(arrived)
        start = self.clock()
        annotated = self.overlay.draw(result, self.fps, start - arrived)
        result.timings["draw"] = self.clock() - start
        self._remember(result)
        return LiveUpdate(
            annotated_rgb=cv2.cvtColor(annotated, cv2.COLOR_BGR2RGB),
            result=result,
            fps=self.fps,
            latency_ms=(self.clock() - arrived) * 1000.0,
        )

    @property
    def fps(self) -> float | None:
        """Frames analysed per second over the last few frames."""
        if len(self._recent) < 2 or self._recent[-1] == self._recent[0]:
            return None
        return (len(self._recent) - 1) / (self._recent[-1] - self._recent[0])

    def _remember(self, result: FrameResult) -> None:
        t = result.frame.timestamp - self.started_at
        for face in result.faces:
            self.history.append((t, face))
        while self.history and self.history[0][0] < t - HISTORY_S:
            self.history.popleft()

    def status(self) -> dict:
        """Counters for the page's status line."""
        return {
            "frames": self.frames_received,
            "dropped": self.frames_dropped,
            "microphone_chunks": None if self.mic is None else self.mic.chunks,
        }
