"""``avaffect.Analyzer``: the Python API, for notebooks and one's own loops.

It runs what the command line runs, with the same defaults and the same model choice
(``avaffect analyze``: the shipped audio-visual model when a video has sound, the visual
streaming model otherwise), and hands back pandas DataFrames with results.csv's columns and
dtypes (see :mod:`avaffect.realtime.tables`)::

    import avaffect
    analyzer = avaffect.Analyzer()
    df = analyzer.analyze_video("talk.mp4")       # one row per face per frame
    df.groupby("track_id")[["valence", "arousal"]].mean()
    df.attrs["summary"]["complete"]                # the run's summary, as summary.json

Models load on first use: ``import avaffect`` imports no torch, and making an Analyzer only
checks its options.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect.realtime")

AUDIO_CHOICES = ("auto", True, False)


class Analyzer:
    """Valence/arousal, 8 AUs and 7 expressions for every face of images, videos and streams.

    ``checkpoint``: a shipped model name or a ``.safetensors`` path (None: the shipped
    defaults, chosen per input as ``avaffect analyze`` does). ``backend``: auto, torch,
    onnxruntime, tensorrt or torch2trt. ``detector``: yunet (None: the default) or haar.
    ``audio``: "auto" (use the sound when there is some), or False (never: the visual
    model). ``options``: any other field of :class:`~avaffect.realtime.options.RunOptions`
    (``device``, ``precision``, ``max_faces``, ``detector_model``, ``detect_size``,
    ``detect_every``, ``mic``...), the flags of `avaffect analyze` and `live` by their names.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        backend: str = "auto",
        detector: str | None = None,
        audio: str | bool = "auto",
        **options,
    ) -> None:
        from avaffect.realtime.options import RunOptions
        from avaffect.shipped import resolve_checkpoint

        if audio not in AUDIO_CHOICES:
            raise AvaffectError(f"audio must be 'auto', True or False, got {audio!r}")
        known = {f.name for f in fields(RunOptions)} - {
            "checkpoint",
            "backend",
            "detector",
            "audio",
        }
        unknown = sorted(set(options) - known)
        if unknown:
            raise AvaffectError(
                f"unknown option(s) {', '.join(unknown)}; use any of {', '.join(sorted(known))}"
            )
        if checkpoint is not None:
            resolve_checkpoint(str(checkpoint))  # a wrong name or path fails here, not later
        given = {"detector": detector} if detector is not None else {}
        self.options = RunOptions(
            checkpoint=None if checkpoint is None else str(checkpoint), backend=backend,
            audio=audio is not False, **given, **options,
        )  # fmt: skip
        self._engine = None  # the images' engine, loaded on the first image

    def __repr__(self) -> str:
        o = self.options
        model = o.checkpoint or "shipped defaults"
        return f"Analyzer(checkpoint={model!r}, backend={o.backend!r}, detector={o.detector!r})"

    # -- images --------------------------------------------------------------------------
    def analyze_image(self, image_or_path):
        """One row per face found (none: an empty DataFrame with the same columns).

        ``image_or_path``: a file path, or an image array as OpenCV gives it (BGR, uint8,
        HxWx3; a 2-D array is taken as grey). Every image is a new stream: no face keeps a
        state from the previous image.
        """
        from avaffect.realtime.tables import frame_rows, results_dataframe
        from avaffect.realtime.video_source import Frame

        image = _load_image(image_or_path)
        analyzer = self._image_stream()
        result = analyzer.process(Frame(image, 0, 0.0, analyzer.clock()))
        return results_dataframe(frame_rows(result))

    def _image_stream(self):
        """A fresh stream for one image (new tracks, zero states), built by the stream
        factory around the engine loaded on the first image: the visual default (or the
        checkpoint; an audio-visual one hears silence, since a photo has no sound), as the
        browser app's photo tab does."""
        from avaffect.realtime.audio_input import RingAudio
        from avaffect.realtime.ring_buffer import AudioRingBuffer
        from avaffect.realtime.stream import build_analyzer, load_engine_for

        if self._engine is None:
            self._engine = load_engine_for(self.options)
        spec = self._engine.spec
        silence = None
        if spec.uses_audio:
            ring = AudioRingBuffer(spec.audio.sample_rate, spec.audio.context_s)
            silence = RingAudio(ring, spec.audio)
        return build_analyzer(self.options, self._engine, silence, audio_wait_s=0.0)

    # -- videos --------------------------------------------------------------------------
    def analyze_video(self, path: str | os.PathLike, *, progress: bool = True):
        """Every frame of a video file -> one row per face per frame; ``df.attrs["summary"]``
        says whether the run was complete (a truncated file is analysed as far as it goes,
        ``status`` "incomplete"). Ctrl-C (KeyboardInterrupt) stops it and is raised again."""
        from tqdm.auto import tqdm

        from avaffect.realtime.runs import run_summary
        from avaffect.realtime.session import run_session
        from avaffect.realtime.stream import build_pipeline
        from avaffect.realtime.tables import results_dataframe

        source = str(path)
        pipeline = build_pipeline(self.options, source, mode="lossless")
        rows = _RowCollector()
        with tqdm(total=pipeline.video.frame_count, unit="frame", disable=not progress) as bar:
            stats = run_session(pipeline, sinks=[rows], progress=bar)
        summary = run_summary(stats, pipeline, source)
        if stats.interrupted:
            raise KeyboardInterrupt(summary["reason"])
        return results_dataframe(rows.rows, summary)

    # -- streams -------------------------------------------------------------------------
    def stream(self, source: int | str = 0, *, max_frames: int | None = None) -> Stream:
        """Per-frame results of a camera (an index), a file (paced as if live) or a URL,
        for one's own loop; each is a FrameResult (``.frame.image``, ``.frame.timestamp``,
        ``.faces``: FaceResult with valence, arousal, expression, au_probs, box). Leaving
        the loop (break, an exception, the end) or ``close()`` stops the threads and
        releases the camera and microphone; so does ``with analyzer.stream() as s:``."""
        from avaffect.realtime.stream import build_pipeline

        return Stream(build_pipeline(self.options, str(source), mode="paced"), max_frames)


class Stream:
    """An iterator of FrameResult over a running pipeline; closes it when left or closed."""

    def __init__(self, pipeline, max_frames: int | None = None) -> None:
        self.pipeline = pipeline
        # The generator must not hold ``self``: then a loop that breaks drops the last
        # reference to this Stream, and CPython closes it at once (no reference cycle).
        self._results = _run(pipeline, max_frames)

    def __iter__(self) -> Stream:
        return self

    def __next__(self):
        return next(self._results)

    def close(self) -> None:
        """Stop the threads and release the devices (safe to call more than once)."""
        self._results.close()  # runs the pipeline's exit if it had started
        self.pipeline.close(raise_errors=False)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _run(pipeline, max_frames: int | None) -> Iterator:
    with pipeline:
        for n, result in enumerate(pipeline.results(), start=1):
            yield result
            if max_frames is not None and n >= max_frames:
                return


class _RowCollector:
    """A sink that keeps the rows in memory, as the CSV sink would write them."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def write(self, result, annotated=None) -> None:
        from avaffect.realtime.tables import frame_rows

        self.rows.extend(frame_rows(result))

    def close(self) -> None:
        pass


def _load_image(image_or_path) -> np.ndarray:
    if isinstance(image_or_path, np.ndarray):
        image = image_or_path
        if image.ndim == 2:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise AvaffectError(
                f"an image array must be uint8 HxWx3 (BGR) or HxW (grey), got {image.dtype} "
                f"{image.shape}"
            )
        return np.ascontiguousarray(image)
    import cv2

    path = Path(image_or_path)
    if not path.is_file():
        raise AvaffectError(f"{path}: no such image file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise AvaffectError(f"{path}: OpenCV cannot read this image (not an image, or damaged)")
    return image
