"""Making an annotated video playable in a browser.

The real-time sinks write a fragmented MP4 (H.264 where PyAV has libx264, else MPEG-4 Part 2,
which browsers do not play), and Gradio converts videos only where an ``ffmpeg`` program is
installed. An H.264 picture (yuv420p) is copied packet by packet into a plain (faststart) MP4,
with no second encoding to wait for or to lose detail in; any other picture is re-encoded with
PyAV's own H.264 encoder (its wheels carry libx264). The sound packets are always copied.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from avaffect.errors import AvaffectError
from avaffect.realtime.file_audio import import_av

ENCODER = "libx264"
FASTSTART = {"movflags": "+faststart"}  # the index first, so playback starts before the download ends


def _browser_ready(video) -> bool:
    """Whether a video stream plays in browsers as it is: H.264, 4:2:0 chroma."""
    return video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"


def to_browser_mp4(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Write ``target``: ``source``'s picture as H.264 (yuv420p, even size), its sound copied."""
    av = import_av()
    target = Path(target)
    try:
        with av.open(str(source)) as src:
            ready = _browser_ready(src.streams.video[0])
            if not ready and ENCODER not in av.codecs_available:
                raise AvaffectError(
                    f"this PyAV build has no {ENCODER} encoder, so the annotated video cannot be made "
                    "playable in a browser; download it instead, or install ffmpeg"
                )
            with av.open(str(target), "w", container_options=FASTSTART) as out:
                (_remux if ready else _transcode)(src, out)
    except (av.error.FFmpegError, ValueError) as err:
        target.unlink(missing_ok=True)
        raise AvaffectError(f"could not make the annotated video playable in a browser ({err})") from None
    return target


def _remux(src, out) -> None:
    """Every packet, picture and sound, copied as it is."""
    streams = [src.streams.video[0], *src.streams.audio[:1]]
    copies = {stream: out.add_stream_from_template(stream) for stream in streams}
    for packet in src.demux(*streams):
        if packet.dts is None:  # the demuxer's flush packet
            continue
        packet.stream = copies[packet.stream]
        out.mux(packet)


def _transcode(src, out) -> None:
    video_in = src.streams.video[0]
    audio_in = src.streams.audio[0] if src.streams.audio else None
    rate = Fraction(video_in.average_rate or video_in.guessed_rate or 30)
    video_out = out.add_stream(ENCODER, rate=rate)
    # yuv420p halves the chroma planes, so x264 needs even sides.
    width, height = video_in.codec_context.width // 2 * 2, video_in.codec_context.height // 2 * 2
    video_out.width, video_out.height, video_out.pix_fmt = width, height, "yuv420p"
    video_out.options = {"preset": "veryfast", "crf": "23"}
    audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
    written = 0
    for packet in src.demux(*[s for s in (video_in, audio_in) if s is not None]):
        if packet.stream is audio_in:
            if packet.dts is not None:  # not the demuxer's flush packet
                packet.stream = audio_out
                out.mux(packet)
            continue
        for frame in packet.decode():
            frame = frame.reformat(width=width, height=height, format="yuv420p")
            # The sinks write one frame per 1/fps (repeating frames to keep time), so
            # sequential timestamps at that rate are the video's timeline.
            frame.pts, frame.time_base = written, 1 / rate
            out.mux(video_out.encode(frame))
            written += 1
    out.mux(video_out.encode(None))
