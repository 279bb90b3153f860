"""Putting sound back into an annotated video, in a second pass.

OpenCV's VideoWriter writes pictures only. When the run had audio (a file's track, or the
microphone), the finished video's packets are copied unchanged into a new MP4 next to the
audio, encoded as AAC and shifted so that it lines up with the first written frame.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.realtime.file_audio import DecodedAudio, import_av

log = logging.getLogger("avaffect.realtime")

_AAC_FRAME = 1024


def mux_audio(video_path: str | os.PathLike, audio: DecodedAudio) -> None:
    """Replace ``video_path`` by a copy with ``audio`` added (video packets are not re-encoded).

    ``audio.start_time`` is where its first sample falls relative to the video's first frame.
    """
    av = import_av()
    video_path = Path(video_path)
    tmp = video_path.with_name(f".{video_path.stem}.muxing{video_path.suffix}")
    samples = _aligned(audio)
    try:
        with av.open(str(video_path)) as source, av.open(str(tmp), "w") as out:
            video_in = source.streams.video[0]
            video_out = out.add_stream_from_template(video_in)
            audio_out = out.add_stream("aac", rate=audio.sample_rate, layout=audio.layout)
            for packet in source.demux(video_in):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.stream = video_out
                out.mux(packet)
            _encode(out, audio_out, samples, audio.sample_rate, audio.layout)
        os.replace(tmp, video_path)
    except (av.error.FFmpegError, ValueError) as err:
        raise AvaffectError(
            f"{video_path}: could not add the audio track ({err}); the video is kept without sound"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _aligned(audio: DecodedAudio) -> np.ndarray:
    """Samples as [n, channels], padded or trimmed at the front so that sample 0 is at t=0."""
    samples = np.asarray(audio.samples, np.float32)
    samples = samples.reshape(len(samples), -1)
    shift = int(round(audio.start_time * audio.sample_rate))
    if shift > 0:
        return np.concatenate([np.zeros((shift, samples.shape[1]), np.float32), samples])
    return samples[-shift:]


def _encode(out, stream, samples: np.ndarray, rate: int, layout: str) -> None:
    av = import_av()
    for start in range(0, len(samples), _AAC_FRAME):
        block = np.ascontiguousarray(samples[start : start + _AAC_FRAME])
        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
