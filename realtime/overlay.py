"""Draws what the analyzer sees on the frame: per face a box with its track id and
expression, a valence/arousal point with a short trail on a small circumplex, and AU bars;
an FPS/latency readout; a live spectrogram strip when audio is on.

Everything is sized from the frame's shorter side, so it reads the same at 640x480 and 1080p.
"""

from __future__ import annotations

import math
from collections import deque
from functools import lru_cache

import cv2
import numpy as np

from avaffect.labels import AUS
from avaffect.realtime.analyzer import FrameResult
from avaffect.record import FaceResult

FONT = cv2.FONT_HERSHEY_SIMPLEX
# Distinct, colour-blind-friendly BGR colours (Okabe-Ito) by track id.
PALETTE = [
    (0, 159, 230),
    (233, 180, 86),
    (115, 158, 0),
    (66, 228, 240),
    (178, 114, 0),
    (0, 94, 213),
    (167, 121, 204),
]
WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (150, 150, 150)


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)


class Overlay:
    """Stateful only for the VA trails (one short history per track)."""

    def __init__(self, trail: int = 15, au_threshold: float = 0.5) -> None:
        self.trail = trail
        self.au_threshold = au_threshold
        self._trails: dict[int, deque[tuple[float, float]]] = {}

    def draw(
        self, result: FrameResult, fps: float | None = None, latency_s: float | None = None
    ) -> np.ndarray:
        """An annotated copy of the frame."""
        image = result.frame.image.copy()
        s = max(0.5, min(image.shape[:2]) / 480.0)
        for face in result.faces:
            self._remember(face)
            self._draw_face(image, face, s)
        present = {f.track_id for f in result.faces}
        for track in [t for t in self._trails if t not in present]:
            del self._trails[track]
        if result.spectrogram is not None:
            draw_spectrogram_strip(image, result.spectrogram, s)
        draw_readout(image, s, fps, latency_s, result.skew, len(result.faces))
        return image

    def _remember(self, face: FaceResult) -> None:
        if _finite(face.valence) and _finite(face.arousal):
            self._trails.setdefault(face.track_id, deque(maxlen=self.trail)).append(
                (face.valence, face.arousal)
            )

    def _draw_face(self, image: np.ndarray, face: FaceResult, s: float) -> None:
        colour = PALETTE[face.track_id % len(PALETTE)]
        thick = max(1, round(2 * s))
        if face.box is None:
            return
        x, y, w, h = (int(round(v)) for v in face.box)
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, thick, cv2.LINE_AA)
        label = f"#{face.track_id}"
        if np.all(np.isfinite(face.expr_probs)):
            label += f" {face.expression} {face.expression_prob:.2f}"
        _text(image, label, label_origin(image.shape, label, (x, y, w, h), s), 0.55 * s, colour)
        panel = int(110 * s)
        px = (
            x + w + int(8 * s)
            if x + w + int(8 * s) + panel <= image.shape[1]
            else max(0, x - panel - int(8 * s))
        )
        py = min(max(header_height(s), y), max(0, image.shape[0] - panel - int(100 * s)))
        draw_circumplex(
            image, (px, py), panel, list(self._trails.get(face.track_id, ())), colour, s
        )
        if np.all(np.isfinite(face.au_probs)):
            draw_au_bars(
                image, (px, py + panel + int(6 * s)), panel, face.au_probs, self.au_threshold, s
            )


def header_height(s: float) -> int:
    """Rows at the top that the FPS/latency readout (:func:`draw_readout`) occupies."""
    return int(30 * s)


def label_origin(
    shape: tuple[int, ...], label: str, box: tuple[int, int, int, int], s: float
) -> tuple[int, int]:
    """Where a face's label goes: above its box, or just inside the box's top edge when
    there is no room above it; always inside the frame and clear of the header readout."""
    height, width = shape[:2]
    x, y, _, _ = box
    scale = 0.55 * s
    (text_w, text_h), baseline = cv2.getTextSize(label, FONT, scale, max(1, round(scale * 2)) + 2)
    left = min(max(0, x), max(0, width - text_w))
    above = y - int(6 * s)
    if above - text_h >= header_height(s):
        return left, above
    inside = max(y, header_height(s)) + text_h + int(4 * s)
    return left, min(inside, height - baseline)


def _text(image: np.ndarray, text: str, org: tuple[int, int], scale: float, colour=WHITE) -> None:
    thick = max(1, round(scale * 2))
    cv2.putText(image, text, org, FONT, scale, BLACK, thick + 2, cv2.LINE_AA)
    cv2.putText(image, text, org, FONT, scale, colour, thick, cv2.LINE_AA)


def _shade(image: np.ndarray, x: int, y: int, w: int, h: int, alpha: float = 0.55) -> None:
    """Darken a rectangle (clipped to the image) so that drawings on it stay legible."""
    x0, y0, x1, y1 = max(0, x), max(0, y), min(image.shape[1], x + w), min(image.shape[0], y + h)
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = (image[y0:y1, x0:x1] * (1 - alpha)).astype(np.uint8)


def draw_circumplex(image, origin, size, trail, colour, s) -> None:
    """Valence right, arousal up, in a unit circle; the trail fades towards the past."""
    x, y = origin
    _shade(image, x, y, size, size)
    c = np.array([x + size / 2, y + size / 2])
    r = size / 2 - 4 * s
    cv2.circle(image, tuple(c.astype(int)), int(r), GREY, 1, cv2.LINE_AA)
    cv2.line(image, (int(c[0] - r), int(c[1])), (int(c[0] + r), int(c[1])), GREY, 1)
    cv2.line(image, (int(c[0]), int(c[1] - r)), (int(c[0]), int(c[1] + r)), GREY, 1)
    _text(image, "V", (int(c[0] + r - 10 * s), int(c[1] - 4 * s)), 0.35 * s, GREY)
    _text(image, "A", (int(c[0] + 4 * s), int(c[1] - r + 12 * s)), 0.35 * s, GREY)
    points = [(c + r * np.clip([v, -a], -1, 1)).astype(int) for v, a in trail]
    for i in range(1, len(points)):
        fade = tuple(int(ch * (0.3 + 0.7 * i / len(points))) for ch in colour)
        cv2.line(image, tuple(points[i - 1]), tuple(points[i]), fade, max(1, round(s)), cv2.LINE_AA)
    if points:
        cv2.circle(image, tuple(points[-1]), max(3, int(5 * s)), colour, -1, cv2.LINE_AA)


@lru_cache(maxsize=8)
def _au_names(s: float) -> np.ndarray:
    """The AU panel's column of names at scale ``s``, drawn once: [H, W, 2] coverage of the
    black outline and of the white letters (the names never change, and anti-aliased text
    is the costliest drawing of a frame)."""
    row, label_w = max(8, int(11 * s)), int(38 * s)
    coverage = np.zeros((2, int(2 * s) + row * len(AUS), label_w), np.uint8)
    for i, name in enumerate(AUS):
        org = (int(2 * s), int(2 * s) + i * row + row - int(2 * s))
        thick = max(1, round(0.32 * s * 2))
        cv2.putText(coverage[0], name, org, FONT, 0.32 * s, 255, thick + 2, cv2.LINE_AA)
        cv2.putText(coverage[1], name, org, FONT, 0.32 * s, 255, thick, cv2.LINE_AA)
    return np.ascontiguousarray(coverage.transpose(1, 2, 0))


def _paste_text(image: np.ndarray, coverage: np.ndarray, x: int, y: int) -> None:
    """Composite :func:`_au_names`-style coverage at (x, y): outline black, letters white."""
    h, w = coverage.shape[:2]
    x1, y1 = min(image.shape[1], x + w), min(image.shape[0], y + h)
    if x1 <= x or y1 <= y:
        return
    cover = coverage[: y1 - y, : x1 - x].astype(np.float32) / 255.0
    region = image[y:y1, x:x1].astype(np.float32) * (1.0 - cover[..., :1])
    image[y:y1, x:x1] = (region * (1.0 - cover[..., 1:]) + 255.0 * cover[..., 1:]).astype(np.uint8)


def draw_au_bars(image, origin, width, probs, threshold, s) -> None:
    """One horizontal bar per AU; active ones (p >= threshold) in a bright colour."""
    x, y = origin
    row = max(8, int(11 * s))
    label_w = int(38 * s)
    _shade(image, x, y, width, row * len(AUS) + int(4 * s))
    _paste_text(image, _au_names(s), x, y)
    for i, p in enumerate(probs):
        top = y + int(2 * s) + i * row
        length = int((width - label_w - 4 * s) * float(np.clip(p, 0, 1)))
        colour = (80, 220, 80) if p >= threshold else (170, 170, 170)
        cv2.rectangle(
            image, (x + label_w, top + 2), (x + label_w + length, top + row - 2), colour, -1
        )


def draw_spectrogram_strip(image: np.ndarray, spectrogram: np.ndarray, s: float) -> None:
    """The frame's audio window along the bottom edge, low frequencies at the bottom."""
    h, w = image.shape[:2]
    strip_h = max(24, int(60 * s))
    spec = np.asarray(spectrogram, np.float32).reshape(spectrogram.shape[-2:])  # [F, W]
    grey = np.clip((spec[::-1] + 1.0) * 127.5, 0, 255).astype(np.uint8)
    coloured = cv2.applyColorMap(
        cv2.resize(grey, (w, strip_h), interpolation=cv2.INTER_LINEAR), cv2.COLORMAP_INFERNO
    )
    region = image[h - strip_h :, :]
    cv2.addWeighted(coloured, 0.8, region, 0.2, 0, dst=region)


def draw_readout(image, s, fps, latency_s, skew_s, n_faces) -> None:
    parts = [f"{fps:.1f} FPS" if _finite(fps) else "-- FPS"]
    if _finite(latency_s):
        parts.append(f"latency {latency_s * 1000:.0f} ms")
    if _finite(skew_s):
        parts.append(f"A/V skew {skew_s * 1000:.0f} ms")
    parts.append(f"{n_faces} face{'s' if n_faces != 1 else ''}")
    # On a shaded band rather than outlined: the outline was most of the frame's drawing time.
    text, scale = "  ".join(parts), 0.55 * s
    thick = max(1, round(scale * 2))
    (width, _), _ = cv2.getTextSize(text, FONT, scale, thick)
    _shade(image, 0, 0, int(16 * s) + width, header_height(s))
    cv2.putText(image, text, (int(8 * s), int(22 * s)), FONT, scale, WHITE, thick, cv2.LINE_AA)
