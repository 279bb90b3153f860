"""From user options to a ready :class:`Pipeline`: the checkpoint, engine, detector, video
and audio sources, with one clear line for everything that can be missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from avaffect import shipped
from avaffect.audio import SpectrogramConfig
from avaffect.checkpoint import read_config
from avaffect.engines import Engine
from avaffect.errors import AvaffectError
from avaffect.realtime.audio_input import AudioInput
from avaffect.realtime.detectors import DEFAULT_DETECT_SIZE, create_detector
from avaffect.realtime.faces import DEFAULT_DETECT_EVERY, FaceFinder
from avaffect.realtime.file_audio import FileAudio, NoAudioTrack
from avaffect.realtime.mic_source import MicSource
from avaffect.realtime.pipeline import Pipeline
from avaffect.realtime.stages import StagedPipeline
from avaffect.realtime.video_source import VideoSource, source_kind
from avaffect.shipped import DEFAULT_AV_MODEL, default_checkpoint, resolve_checkpoint

log = logging.getLogger("avaffect.realtime")


@dataclass
class RunOptions:
    """Everything `avaffect live` and `avaffect analyze` can be told; defaults work."""

    source: str = "0"  # camera index, video file or stream URL
    checkpoint: str | None = None  # shipped model name or path; None: the shipped default
    backend: str = "auto"
    device: str | None = None
    precision: str = "fp32"
    audio: bool = True
    mic: str | None = None  # device index or name; None: the default input
    mic_backend: str = "sounddevice"
    detector: str = "yunet"
    detector_model: str | None = None
    detect_size: int = DEFAULT_DETECT_SIZE  # YuNet searches larger frames at this longer side
    detect_every: int = DEFAULT_DETECT_EVERY  # search the whole frame every K frames (1: all)
    max_faces: int = 8
    video_mode: str | None = None  # files: "paced" (as if live) or "lossless" (every frame)


def load_engine_for(options: RunOptions, path: Path | None = None) -> Engine:
    """The engine of ``--checkpoint`` (or ``path``; else the visual default), logged by name."""
    from avaffect.engines import load_engine

    if path is None:
        path = (
            resolve_checkpoint(options.checkpoint) if options.checkpoint else default_checkpoint()
        )
    engine = load_engine(
        str(path), backend=options.backend, device=options.device,
        precision=options.precision, max_faces=options.max_faces,
    )  # fmt: skip
    spec = engine.spec
    origin = options.checkpoint or f"{path.stem}, shipped"
    log.info(
        "model %s (%s) on %s (%s, %s)",
        spec.model,
        origin,
        spec.backend,
        spec.device,
        spec.precision,
    )
    return engine


def open_audio(options: RunOptions, engine: Engine) -> AudioInput | None:
    """The audio input the model needs, or None for a visual-only model; an A/V model
    without a usable audio source is refused with the reason."""
    spec = engine.spec
    if not spec.uses_audio:
        log.info("audio: not used (model %s is visual-only)", spec.model)
        return None
    if not options.audio:
        raise AvaffectError(
            f"model {spec.model} is audio-visual and needs sound, but --no-audio was given; "
            "drop it or pick a visual-only checkpoint"
        )
    return open_sound(options, spec.audio, spec.model)


def open_sound(options: RunOptions, cfg: SpectrogramConfig, model: str) -> AudioInput:
    """The file's own track for a file, else the microphone; one clear line when neither."""
    needs = f"model {model} is audio-visual and needs sound"
    kind = source_kind(options.source)
    try:
        if kind == "file":
            audio: AudioInput = FileAudio.open(options.source, cfg)
            log.info("audio: the file's own track")
        elif kind == "url" and options.mic is None:
            raise AvaffectError("a stream URL's sound is not read live; pass --mic DEVICE")
        else:
            audio = MicSource(cfg, options.mic, options.mic_backend)
    except NoAudioTrack as err:
        raise AvaffectError(f"{needs}, but {err}; pick a visual-only checkpoint") from None
    except AvaffectError as err:
        raise AvaffectError(f"{needs}: {err}") from None
    return audio


def load_default(options: RunOptions) -> tuple[Engine, AudioInput | None]:
    """No --checkpoint: the shipped audio-visual model when there is sound to hear (the file's
    track, or a microphone that opens), the visual streaming default otherwise; says which."""
    fused = shipped.available_shipped().get(DEFAULT_AV_MODEL)
    if fused is None or not options.audio:
        why = "--no-audio" if options.audio is False else "no audio-visual model in this install"
        log.info("audio: not used (%s)", why)
        return load_engine_for(options), None
    try:
        audio = open_sound(options, read_config(fused).audio, DEFAULT_AV_MODEL)
    except AvaffectError as err:
        log.info("audio: none (%s); running the visual model", err)
        return load_engine_for(options), None
    try:
        engine = load_engine_for(options, fused)
    except BaseException:
        audio.close()
        raise
    log.info("audio: heard; running the audio-visual model %s", DEFAULT_AV_MODEL)
    return engine, audio


def build_pipeline(
    options: RunOptions, engine: Engine | None = None, default_mode: str = "lossless"
) -> Pipeline:
    """Open the video first (the quickest thing to get wrong), then the engine (unless given),
    the detector and the audio; nothing starts yet. A lossless run gets a
    :class:`StagedPipeline` (faces and model in two threads), a paced or live one the
    lowest-latency :class:`Pipeline`. On failure, whatever was opened is closed."""
    if options.max_faces < 1:
        raise AvaffectError(f"--max-faces must be at least 1, got {options.max_faces}")
    video = VideoSource.open(options.source, mode=options.video_mode or default_mode)
    try:
        if engine is None and options.checkpoint is None:
            engine, audio = load_default(options)
        else:
            engine = engine or load_engine_for(options)
            audio = open_audio(options, engine)
        detector = create_detector(
            options.detector, options.detector_model, detect_size=options.detect_size
        )
        max_faces = min(options.max_faces, engine.spec.max_faces or options.max_faces)
        finder = FaceFinder(
            detector, engine.spec.face, max_faces=max_faces, detect_every=options.detect_every
        )
    except BaseException:
        video.close()
        raise
    log.info("video: %s (%s, %s)", options.source, source_kind(options.source), video.mode)
    # Every frame of a file: throughput counts, so faces and model overlap (stages.py).
    kind = StagedPipeline if video.mode == "lossless" else Pipeline
    return kind(video, finder, engine, audio)
