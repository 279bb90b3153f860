"""A small synthetic database written in the Aff-Wild2 layout, for tests, demos and smoke runs.

It exercises what a real Aff-Wild2 root has: ``cropped_aligned/<video>/00001.jpg`` crops,
``VA_Set``/``AU_Set``/``EXPR_Set`` with ``Training_Set`` and ``Validation_Set`` files (the
expression header with ``Other``), a few missing labels (-5 / -1 / ``Other``), one annotated
frame per video without an image, a ``_left``/``_right`` pair sharing one raw video (the
``_right`` face has no AU annotation), and raw videos with an audio track (even recordings
``.mp4`` with AAC, odd ones ``.avi`` with PCM) whose loudness follows arousal. The task is
learnable: faces show their AUs (:mod:`.synthetic_faces`), and arousal is audible.

Frame ``k`` (1-based) is shown at ``(k - 1) / fps``, as the Aff-Wild2 loader assumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from avaffect.errors import AvaffectError
from avaffect.labels import AUS, EXPRESSIONS, INVALID_LABEL, INVALID_VA

from .synthetic_faces import Appearance, Track, draw_face, random_appearance, random_track
from .video_audio import import_av

AUDIO_RATE = 16000
EXPR_HEADER = (*EXPRESSIONS, "Other")
OTHER = len(EXPRESSIONS)  # "Other" is the header's last class


@dataclass
class _Face:
    video: str  # annotated video name, e.g. "synth_001_left"
    split: str  # "Training_Set" or "Validation_Set"
    look: Appearance
    with_au: bool = True


@dataclass
class _Recording:
    name: str
    track: Track  # shared by the recording's faces, so its audio fits both
    faces: list[_Face]


def _plan(videos: int, frames: int, rng: np.random.Generator) -> list[_Recording]:
    validation = max(1, videos // 4) if videos >= 2 else 0
    pair = 1 if videos >= 3 else 0  # in the training split whenever there is a validation one
    plan = []
    for i in range(videos):
        name, split = (
            f"synth_{i:03d}",
            "Validation_Set" if i >= videos - validation else "Training_Set",
        )
        if i == pair:
            faces = [
                _Face(f"{name}_left", split, random_appearance(rng)),
                _Face(f"{name}_right", split, random_appearance(rng), with_au=False),
            ]
        else:
            faces = [_Face(name, split, random_appearance(rng))]
        plan.append(_Recording(name, random_track(rng, frames), faces))
    return plan


def _write_lines(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def _write_labels(root: Path, face: _Face, track: Track, rng: np.random.Generator) -> None:
    """The face's three annotation files, with a few labels deliberately missing."""
    frames = len(track.expr)
    va, au, expr = track.va.copy(), track.au.astype(np.int64), track.expr.copy()
    va[rng.choice(frames, 2, replace=False)] = INVALID_VA
    au[rng.choice(frames, 2, replace=False)] = INVALID_LABEL
    missing = rng.choice(frames, 3, replace=False)
    expr[missing[:2]], expr[missing[2]] = INVALID_LABEL, OTHER
    name = f"{face.video}.txt"
    _write_lines(
        root / "VA_Set" / face.split / name, "valence,arousal", [f"{v:.4f},{a:.4f}" for v, a in va]
    )
    if face.with_au:
        _write_lines(
            root / "AU_Set" / face.split / name, ",".join(AUS), [",".join(map(str, r)) for r in au]
        )
    _write_lines(
        root / "EXPR_Set" / face.split / name, ",".join(EXPR_HEADER), [str(e) for e in expr]
    )


def _draw_and_write_images(
    root: Path, face: _Face, track: Track, rng: np.random.Generator
) -> np.ndarray:
    """Draw every frame, write all but one (an annotated frame without a face), return them."""
    folder = root / "cropped_aligned" / face.video
    folder.mkdir(parents=True, exist_ok=True)
    frames = len(track.expr)
    no_face = int(rng.integers(frames // 3, 2 * frames // 3 + 1))
    images = np.stack(
        [draw_face(track.au[t], track.va[t, 1], face.look, rng) for t in range(frames)]
    )
    for t, image in enumerate(images):
        if t != no_face:
            cv2.imwrite(str(folder / f"{t + 1:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return images


def arousal_audio(arousal: np.ndarray, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Mono float32 at AUDIO_RATE, as long as the video: a tone plus noise, -45 dB at arousal
    -1 up to -8 dB at +1, following the frames' arousal (frame k at k / fps)."""
    samples = int(round(len(arousal) / fps * AUDIO_RATE))
    t = np.arange(samples) / AUDIO_RATE
    level_db = -45.0 + 37.0 * (np.interp(t, np.arange(len(arousal)) / fps, arousal) + 1.0) / 2.0
    carrier = 0.6 * np.sin(2 * np.pi * 220.0 * t) + 0.4 * rng.uniform(-1.0, 1.0, samples)
    return (carrier * 10.0 ** (level_db / 20.0)).astype(np.float32)


def _write_raw_video(path: Path, frames: np.ndarray, fps: float, audio: np.ndarray) -> None:
    """Encode BGR ``frames`` [T, H, W, 3] and mono ``audio`` with PyAV (mp4: AAC, avi: PCM)."""
    av = import_av()
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=Fraction(fps).limit_denominator(10000))
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        sound = container.add_stream(
            "aac" if path.suffix == ".mp4" else "pcm_s16le", rate=AUDIO_RATE
        )
        sound.layout = "mono"
        for image in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        for start in range(0, len(pcm), 1024):
            chunk = av.AudioFrame.from_ndarray(
                pcm[None, start : start + 1024], format="s16", layout="mono"
            )
            chunk.sample_rate, chunk.pts = AUDIO_RATE, start
            container.mux(sound.encode(chunk))
        container.mux(video.encode())
        container.mux(sound.encode())


def write_synthetic_affwild2(
    root: str | Path,
    videos: int = 4,
    frames: int = 60,
    fps: float = 30,
    seed: int = 0,
    audio: bool = True,
) -> Path:
    """Write the database under ``root`` (created) and return it; ``videos`` counts recordings.

    One recording holds two faces (``_left``/``_right``); the last quarter of the
    recordings (at least one, given two or more) is the validation split. ``audio=False``
    writes no raw videos (and needs no PyAV).
    """
    if videos < 1 or frames < 6 or fps <= 0:
        raise AvaffectError(
            f"synthetic Aff-Wild2 needs videos >= 1, frames >= 6, fps > 0 (got {videos}, {frames}, {fps})"
        )
    if audio:
        import_av()
    root = Path(root).expanduser()
    rng = np.random.default_rng(seed)
    for i, recording in enumerate(_plan(videos, frames, rng)):
        images = []
        for face in recording.faces:
            _write_labels(root, face, recording.track, rng)
            images.append(_draw_and_write_images(root, face, recording.track, rng))
        if audio:
            path = root / "videos" / f"{recording.name}{'.mp4' if i % 2 == 0 else '.avi'}"
            sound = arousal_audio(recording.track.va[:, 1], fps, rng)
            _write_raw_video(path, np.concatenate(images, axis=2), fps, sound)
    return root
