"""The one factory of a stream, from :class:`RunOptions` to running parts: the engine (the
checkpoint, or the shipped default that fits the sound), the face finder (detector + tracker's
input), the per-frame analyzer, and for a camera or a file the whole :class:`Pipeline` with
its video and audio sources; one clear line for everything that can be missing.

`avaffect live`, `analyze`, `serve` (live tab, photos, videos) and `bench` all build their
streams here, so an option added to one of the options classes reaches every one of them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from avaffect import shipped
from avaffect.audio import SpectrogramConfig
from avaffect.checkpoint import read_config
from avaffect.engines import Engine
from avaffect.errors import AvaffectError
from avaffect.realtime.analyzer import FrameAnalyzer
from avaffect.realtime.audio_input import AudioInput
from avaffect.realtime.detectors import create_detector
from avaffect.realtime.faces import FaceFinder
from avaffect.realtime.file_audio import FileAudio, NoAudioTrack
from avaffect.realtime.mic_source import MicSource
from avaffect.realtime.options import DetectorOptions, RunOptions
from avaffect.realtime.pipeline import Pipeline
from avaffect.realtime.stages import StagedPipeline, stage_threads
from avaffect.realtime.video_source import VideoSource, source_kind
from avaffect.shipped import DEFAULT_AV_MODEL, default_checkpoint, resolve_checkpoint

log = logging.getLogger("avaffect.realtime")


def load_engine_for(
    options: RunOptions, path: Path | None = None, *, threads: int | None = None
) -> Engine:
    """The engine of ``--checkpoint`` (or ``path``; else the visual default), logged by name;
    ``threads``: ONNX Runtime's intra-op threads (None: every core)."""
    from avaffect.engines import load_engine

    if path is None:
        path = (
            resolve_checkpoint(options.checkpoint) if options.checkpoint else default_checkpoint()
        )
    engine = load_engine(
        str(path), backend=options.backend, device=options.device,
        precision=options.precision, max_faces=options.max_faces, threads=threads,
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


def open_audio(options: RunOptions, source: str, engine: Engine) -> AudioInput | None:
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
    return open_sound(options, source, spec.audio, spec.model)


def open_sound(options: RunOptions, source: str, cfg: SpectrogramConfig, model: str) -> AudioInput:
    """The file's own track for a file, else the microphone; one clear line when neither."""
    needs = f"model {model} is audio-visual and needs sound"
    kind = source_kind(source)
    try:
        if kind == "file":
            audio: AudioInput = FileAudio.open(source, cfg)
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


def load_default(
    options: RunOptions, source: str, *, threads: int | None = None
) -> tuple[Engine, AudioInput | None]:
    """No --checkpoint: the shipped audio-visual model when there is sound to hear (the file's
    track, or a microphone that opens), the visual streaming default otherwise; says which."""
    fused = shipped.available_shipped().get(DEFAULT_AV_MODEL)
    if fused is None or not options.audio:
        why = "--no-audio" if options.audio is False else "no audio-visual model in this install"
        log.info("audio: not used (%s)", why)
        return load_engine_for(options, threads=threads), None
    try:
        audio = open_sound(options, source, read_config(fused).audio, DEFAULT_AV_MODEL)
    except AvaffectError as err:
        log.info("audio: none (%s); running the visual model", err)
        return load_engine_for(options, threads=threads), None
    try:
        engine = load_engine_for(options, fused, threads=threads)
    except BaseException:
        audio.close()
        raise
    log.info("audio: heard; running the audio-visual model %s", DEFAULT_AV_MODEL)
    return engine, audio


def build_finder(
    options: DetectorOptions, engine: Engine, max_faces: int, *, detect_phase: int = 0
) -> FaceFinder:
    """The face detector of ``options`` with the crop ``engine`` needs, at most ``max_faces``
    faces (or fewer, when the engine's face batch is smaller); ``detect_phase`` staggers the
    whole-frame searches of streams that share the cores (see :class:`FaceFinder`)."""
    detector = create_detector(
        options.detector, options.detector_model, detect_size=options.detect_size
    )
    spec = engine.spec
    return FaceFinder(
        detector, spec.face, max_faces=min(max_faces, spec.max_faces or max_faces),
        detect_every=options.detect_every, phase=detect_phase,
    )  # fmt: skip


def build_analyzer(
    options: RunOptions, engine: Engine, audio: AudioInput | None = None, **analyzer_options
) -> FrameAnalyzer:
    """One stream's per-frame work (faces, tracks with their GRU states, audio, the engine),
    for frames that arrive from elsewhere (a browser, a photo); ``analyzer_options`` go to
    :class:`FrameAnalyzer` (``audio_wait_s``, ``clock``)."""
    finder = build_finder(options, engine, options.max_faces)
    return FrameAnalyzer(finder, engine, audio, every_frame=options.every_frame, **analyzer_options)


def build_pipeline(
    options: RunOptions,
    source: str,
    *,
    mode: str,
    engine: Engine | None = None,
    detect_phase: int = 0,
) -> Pipeline:
    """A camera or file stream (``source``; ``mode`` "paced" as if live, or "lossless"): the
    video first (the quickest thing to get wrong), then the engine (unless given), the detector
    and the audio; nothing starts yet. A lossless run gets a :class:`StagedPipeline` (faces and
    model in two threads), a paced or live one the lowest-latency :class:`Pipeline`.
    Several streams on one machine give each its own ``detect_phase`` (0, 1, 2...). On
    failure, whatever was opened is closed."""
    video = VideoSource.open(source, mode=mode)
    # Every frame of a file: throughput counts, so faces and model overlap (stages.py), and
    # the engine leaves the other stages their cores.
    staged = video.mode == "lossless"
    threads = stage_threads() if staged else None
    try:
        if engine is None and options.checkpoint is None:
            engine, audio = load_default(options, source, threads=threads)
        else:
            engine = engine or load_engine_for(options, threads=threads)
            audio = open_audio(options, source, engine)
        finder = build_finder(options, engine, options.max_faces, detect_phase=detect_phase)
    except BaseException:
        video.close()
        raise
    log.info("video: %s (%s, %s)", source, source_kind(source), video.mode)
    pipeline_class = StagedPipeline if staged else Pipeline
    return pipeline_class(video, finder, engine, audio, every_frame=options.every_frame)
