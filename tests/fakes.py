"""Test doubles for the real-time pipeline: a camera, a microphone, a detector and an engine
that need no device and no trained model, yet behave like the real ones where it matters.

- :class:`FakeCamera` delivers synthetic frames on a schedule of its injected clock (like a
  camera that produces a frame every 1/fps seconds whether or not anyone reads it).
- :class:`FakeMic` fills an :class:`AudioRingBuffer` from a thread, block by block, each
  stamped with its capture time on the same clock and delivered ``latency_s`` late, like a
  PortAudio callback; its signal is a known function of time, so a window can be checked.
- :class:`BlobDetector` finds bright rectangles ("faces") in a frame.
- :class:`FakeEngine` implements the Engine protocol with a visible state: each face's state
  counts the frames it was stepped and sums its mean pixel value, and the outputs report
  both, so whether a GRU state followed its face is observable from the outputs alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from avaffect.audio import SpectrogramConfig
from avaffect.engines import EngineSpec, Outputs, State
from avaffect.face import FaceSpec
from avaffect.labels import NUM_AUS, NUM_EXPRESSIONS
from avaffect.realtime.detectors import Detections, landmarks_from_boxes
from avaffect.realtime.ring_buffer import AudioRingBuffer


@dataclass(frozen=True)
class Blob:
    """A synthetic face: a filled rectangle of one grey level."""

    x: int
    y: int
    w: int
    h: int
    grey: int


Scene = Callable[[int], Sequence[Blob]]  # frame index -> the blobs in that frame


def render(blobs: Sequence[Blob], size: tuple[int, int] = (320, 240)) -> np.ndarray:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for b in blobs:
        image[b.y : b.y + b.h, b.x : b.x + b.w] = b.grey
    return image


class FakeCamera:
    """A :class:`~avaffect.realtime.video_source.Capture` whose frame ``i`` becomes available
    at ``start + i / fps`` on ``clock``; ``frames=None`` never ends."""

    def __init__(
        self,
        scene: Scene,
        fps: float = 30.0,
        frames: int | None = None,
        size: tuple[int, int] = (320, 240),
        clock: Callable[[], float] = time.monotonic,
        fail_at: int | None = None,
    ) -> None:
        self.scene, self.fps, self.frames, self.size = scene, fps, frames, size
        self.clock = clock
        self.fail_at = fail_at
        self.start: float | None = None
        self.index = -1
        self.released = False

    def grab(self) -> bool:
        if self.released or (self.frames is not None and self.index + 1 >= self.frames):
            return False
        if self.start is None:
            self.start = self.clock()
        self.index += 1
        due = self.start + self.index / self.fps
        while (wait := due - self.clock()) > 0:
            time.sleep(min(wait, 0.005))
        return True

    def retrieve(self) -> tuple[bool, np.ndarray]:
        if self.fail_at is not None and self.index >= self.fail_at:
            raise OSError("camera unplugged")
        return True, render(self.scene(self.index), self.size)

    def get(self, prop: int) -> float:
        return {
            cv2.CAP_PROP_FPS: self.fps,
            cv2.CAP_PROP_FRAME_WIDTH: self.size[0],
            cv2.CAP_PROP_FRAME_HEIGHT: self.size[1],
        }.get(prop, 0.0)

    def release(self) -> None:
        self.released = True


def stepped_tone(t: np.ndarray) -> np.ndarray:
    """A test signal whose spectrum changes every 100 ms, so a misplaced window shows."""
    t = np.asarray(t, np.float64)
    freq = 300.0 + 400.0 * (np.floor(t * 10) % 8)
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class FakeMic:
    """Writes ``signal(t)`` into ``ring`` in blocks, as a PortAudio callback would."""

    kind = "microphone"

    def __init__(
        self,
        ring: AudioRingBuffer,
        signal: Callable[[np.ndarray], np.ndarray] = stepped_tone,
        block: int = 512,
        latency_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ring, self.signal, self.block, self.latency_s, self.clock = (
            ring,
            signal,
            block,
            latency_s,
            clock,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-mic", daemon=True)

    def start(self) -> FakeMic:
        self._thread.start()
        return self

    def _run(self) -> None:
        rate = self.ring.sample_rate
        pos = self.ring.position(self.clock())
        while not self._stop.is_set():
            due = (pos + self.block) / rate + self.latency_s
            if self._stop.wait(max(0.0, due - self.clock())):
                break
            positions = np.arange(pos, pos + self.block)
            self.ring.write(self.signal(positions / rate), pos / rate)
            pos += self.block

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


class BlobDetector:
    """Finds the bright rectangles of :func:`render`; topmost first."""

    name = "blobs"

    def detect(self, image_bgr: np.ndarray) -> Detections:
        mask = (image_bgr[..., 0] > 0).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = np.array([stats[i, :4] for i in range(1, count)], np.float32).reshape(-1, 4)
        scores = 1.0 - (boxes[:, 1] + boxes[:, 3] / 2) / image_bgr.shape[0]
        return Detections(boxes, landmarks_from_boxes(boxes), scores.astype(np.float32)).best(None)


class FakeEngine:
    """The Engine protocol with an observable state (see the module docstring).

    Outputs per face: valence = frames stepped / 100; arousal = the running mean of the
    face crop's mean value (so it identifies the face whose state this is); the first AU
    probability = the spectrogram's mean mapped to [0, 1] (0.5 without audio).
    """

    def __init__(
        self,
        face: FaceSpec | None = None,
        audio: SpectrogramConfig | None = None,
        delay_s: float = 0.0,
        fail_at: int | None = None,
    ) -> None:
        self.spec = EngineSpec(
            model="fake", backend="fake", device="cpu", precision="fp32",
            face=face or FaceSpec(size=32), audio=audio,
            uses_face=True, uses_audio=audio is not None, recurrent=True, arcface=False,
            hidden_shape=(1, 2), input_names=("face",), output_names=("valence_arousal",), max_faces=None,
        )  # fmt: skip
        self.delay_s = delay_s
        self.fail_at = fail_at
        self.calls = 0
        self.batch_sizes: list[int] = []

    def init_state(self, n_faces: int) -> State:
        return State(np.zeros((1, n_faces, 2), np.float32))

    def step(
        self, faces: np.ndarray, spectrograms: np.ndarray | None, state: State
    ) -> tuple[Outputs, State]:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("fake engine failure")
        if self.delay_s:
            time.sleep(self.delay_s)
        n = len(faces)
        assert len(state) == n, "state rows must match the faces"
        self.batch_sizes.append(n)
        hidden = state.numpy().copy()
        hidden[0, :, 0] += 1.0
        hidden[0, :, 1] += faces.reshape(n, -1).mean(axis=1)
        au = np.full((n, NUM_AUS), 0.5, np.float32)
        if spectrograms is not None:
            au[:, 0] = (spectrograms.reshape(n, -1).mean(axis=1) + 1) / 2
        expr = np.full((n, NUM_EXPRESSIONS), 1.0 / NUM_EXPRESSIONS, np.float32)
        va = np.stack([hidden[0, :, 0] / 100.0, hidden[0, :, 1] / hidden[0, :, 0]], axis=1).astype(
            np.float32
        )
        return Outputs(va, au, expr), State(hidden)
