"""Procedural faces whose expression, action units and valence/arousal are known and visible.

Each expression has a prototype AU set (Du et al. 2014 style); the AUs drive the drawing
(brows, eyes, lip corners, mouth opening) and their strength grows with arousal; valence
and arousal follow the expression with smooth noise. Features sit on avaffect's 5-point
template, so a drawn face is an aligned crop like Aff-Wild2's ``cropped_aligned``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avaffect.face import template
from avaffect.labels import AUS, EXPRESSIONS

SIZE = 112

PROTOTYPE_AUS: dict[str, tuple[str, ...]] = {
    "Neutral": (),
    "Anger": ("AU4",),
    "Disgust": ("AU4", "AU15"),
    "Fear": ("AU1", "AU2", "AU4", "AU20", "AU25"),
    "Happiness": ("AU6", "AU12", "AU25"),
    "Sadness": ("AU1", "AU4", "AU15"),
    "Surprise": ("AU1", "AU2", "AU25"),
}
# (valence, arousal) per expression, after Russell's circumplex
PROTOTYPE_VA: dict[str, tuple[float, float]] = {
    "Neutral": (0.0, -0.2),
    "Anger": (-0.6, 0.7),
    "Disgust": (-0.65, 0.3),
    "Fear": (-0.5, 0.85),
    "Happiness": (0.75, 0.45),
    "Sadness": (-0.65, -0.5),
    "Surprise": (0.3, 0.8),
}
# expressions whose faces may also "talk" (AU25 added), so AU25 is not a function of the class
TALKING = ("Neutral", "Anger", "Disgust", "Sadness")


@dataclass(frozen=True)
class Appearance:
    """A person and a camera: fixed for one video."""

    skin: tuple[int, int, int]
    background: tuple[int, int, int]
    ink: tuple[int, int, int]  # brows, pupils, outlines
    head_axes: tuple[int, int]
    scale: float
    shift: tuple[float, float]


def random_appearance(rng: np.random.Generator) -> Appearance:
    """Small jitter on purpose: the expression, not the person, must be what stands out."""
    grey = int(rng.integers(200, 236))
    return Appearance(
        skin=tuple(
            int(c) for c in np.clip(np.array([120, 150, 190]) + rng.integers(-20, 21, 3), 0, 255)
        ),
        background=tuple(int(c) for c in np.clip(grey + rng.integers(-12, 13, 3), 0, 255)),
        ink=tuple(int(c) for c in rng.integers(0, 40, 3)),
        head_axes=(int(rng.integers(39, 43)), int(rng.integers(51, 55))),
        scale=float(rng.uniform(0.95, 1.03)),
        shift=(float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))),
    )


@dataclass
class Track:
    """Per-frame ground truth of one face: expression index, AU activations [T, 8], VA [T, 2]."""

    expr: np.ndarray
    au: np.ndarray
    va: np.ndarray


def random_track(rng: np.random.Generator, frames: int) -> Track:
    """Expression segments of varying length covering many classes; VA eases towards each target."""
    expr = np.empty(frames, np.int64)
    au = np.zeros((frames, len(AUS)), np.float32)
    targets = np.empty((frames, 2), np.float32)
    order, segment, start = rng.permutation(len(EXPRESSIONS)), 0, 0
    while start < frames:
        length = int(rng.integers(6, 17))
        name = EXPRESSIONS[order[segment % len(order)]]  # cycle: every class soon appears
        segment += 1
        active = set(PROTOTYPE_AUS[name])
        if name in TALKING and rng.random() < 0.3:
            active.add("AU25")
        stop = min(frames, start + length)
        expr[start:stop] = EXPRESSIONS.index(name)
        au[start:stop] = [name_ in active for name_ in AUS]
        targets[start:stop] = np.add(PROTOTYPE_VA[name], rng.normal(0, 0.06, 2))
        start = stop
    return Track(expr, au, _ease(targets, rng))


def _ease(targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    va = np.empty_like(targets)
    va[0] = targets[0]
    for t in range(1, len(targets)):
        va[t] = va[t - 1] + 0.35 * (targets[t] - va[t - 1]) + rng.normal(0, 0.015, 2)
    return np.clip(va, -1, 1).astype(np.float32)


def _curve(left: np.ndarray, right: np.ndarray, middle_y: float, points: int = 12) -> np.ndarray:
    """A parabola from ``left`` to ``right`` through height ``middle_y`` at mid-width."""
    t = np.linspace(0.0, 1.0, points)
    x = left[0] + (right[0] - left[0]) * t
    ends = left[1] + (right[1] - left[1]) * t
    y = ends + (middle_y - (left[1] + right[1]) / 2.0) * (1.0 - (2.0 * t - 1.0) ** 2)
    return np.stack([x, y], 1)


def _draw_brows_and_eyes(canvas: np.ndarray, a: dict[str, float], look: Appearance) -> None:
    eyes = template(SIZE)[:2]
    for eye, inward in ((eyes[0], 1.0), (eyes[1], -1.0)):
        # AU6 narrows the eye (cheek raiser); AU1/AU2 lift inner/outer brow; AU4 lowers and knits.
        height = 5.5 * (1.0 - 0.65 * a["AU6"])
        cv2.ellipse(
            canvas,
            _pt(eye),
            (9, max(1, int(round(height)))),
            0,
            0,
            360,
            (250, 250, 250),
            -1,
            cv2.LINE_AA,
        )
        cv2.circle(canvas, _pt(eye), 3, look.ink, -1, cv2.LINE_AA)
        if a["AU6"] > 0:
            cv2.ellipse(canvas, _pt(eye + (0, 9)), (8, 3), 0, 200, 340, look.ink, 1, cv2.LINE_AA)
        inner = eye + (inward * (7 + 4 * a["AU4"]), -13 - 8 * a["AU1"] + 8 * a["AU4"])
        outer = eye + (-inward * 11, -12 - 8 * a["AU2"] + 2 * a["AU4"])
        cv2.line(canvas, _pt(inner), _pt(outer), look.ink, 4, cv2.LINE_AA)


def _draw_mouth(canvas: np.ndarray, a: dict[str, float], look: Appearance) -> None:
    nose = template(SIZE)[2]
    cv2.line(canvas, _pt(nose - (0, 14)), _pt(nose), look.ink, 2, cv2.LINE_AA)
    cv2.line(canvas, _pt(nose - (5, 0)), _pt(nose + (5, 0)), look.ink, 2, cv2.LINE_AA)
    left, right = template(SIZE)[3].copy(), template(SIZE)[4].copy()
    # AU20 stretches the lips sideways; AU12 pulls the corners up, AU15 down; AU25 parts them.
    left[0], right[0] = left[0] - 7 * a["AU20"], right[0] + 7 * a["AU20"]
    lift = -8 * a["AU12"] + 8 * a["AU15"]
    left[1], right[1] = left[1] + lift, right[1] + lift
    centre = (left[1] + right[1]) / 2.0 - lift
    upper = _curve(left, right, centre - 1 + 2 * a["AU12"])
    lower = _curve(left, right, centre + 2 + 12 * a["AU25"] + 3 * a["AU12"])
    if a["AU25"] > 0:
        cv2.fillPoly(
            canvas,
            [np.round(np.concatenate([upper, lower[::-1]])).astype(np.int32)],
            (40, 20, 90),
            cv2.LINE_AA,
        )
    for lip in (upper, lower):
        cv2.polylines(
            canvas, [np.round(lip).astype(np.int32)], False, (50, 40, 150), 2, cv2.LINE_AA
        )


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))


def draw_face(
    au: np.ndarray, arousal: float, look: Appearance, rng: np.random.Generator
) -> np.ndarray:
    """One 112x112 BGR face showing the active AUs in ``au`` [8], stronger with arousal."""
    strength = 0.7 + 0.3 * (float(arousal) + 1.0) / 2.0
    a = {name: float(on) * strength for name, on in zip(AUS, au, strict=True)}
    canvas = np.empty((SIZE, SIZE, 3), np.uint8)
    canvas[:] = look.background
    cv2.ellipse(canvas, (56, 62), look.head_axes, 0, 0, 360, look.skin, -1, cv2.LINE_AA)
    _draw_brows_and_eyes(canvas, a, look)
    _draw_mouth(canvas, a, look)
    angle = float(rng.uniform(-4, 4))
    matrix = cv2.getRotationMatrix2D(
        (56.0, 62.0), angle, look.scale * float(rng.uniform(0.98, 1.02))
    )
    matrix[:, 2] += np.add(look.shift, rng.uniform(-1.5, 1.5, 2))
    return cv2.warpAffine(canvas, matrix, (SIZE, SIZE), borderMode=cv2.BORDER_REPLICATE)
