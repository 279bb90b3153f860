"""The Gradio app behind `avaffect serve`: Live (webcam, and microphone for audio-visual
models), Video (upload, progress, annotated video, timelines, CSV) and Image (every face of
a photo annotated, with a table of its outputs).

One engine serves every browser tab (:class:`SharedEngine`); each tab's tracks, GRU states,
overlay trails and microphone buffer are a :class:`LiveSession` kept in that tab's
``gr.State``. Written for Gradio 6: theme and CSS go to ``launch()``, the webcam is
configured with ``gr.WebcamOptions``, and streaming uses Gradio's own ``.stream`` events
(fastrtc and gradio-webrtc still require Gradio < 6).
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import gradio as gr
import numpy as np

from avaffect.demo import plots
from avaffect.demo.live import LiveSession, LiveUpdate
from avaffect.demo.options import ServeOptions, resolve_detector
from avaffect.demo.shared_engine import SharedEngine
from avaffect.demo.stills import analyze_photo
from avaffect.demo.uploads import probe_video, read_image
from avaffect.demo.video_job import analyze_video, new_job_dir
from avaffect.engines import Engine
from avaffect.errors import AvaffectError
from avaffect.labels import AUS

PLOT_EVERY_S = 0.5  # live plots redraw at most this often; the picture updates every frame
AUDIO_EVERY_S = 0.25  # how often the browser sends a microphone chunk
SESSION_TTL_S = 900  # an idle tab's session (tracks, states) is freed after this
CSS = """
#live-annotated img, #photo-annotated img { object-fit: contain; }
.avaffect-status { font-variant-numeric: tabular-nums; }
"""


def user_errors(fn):
    """Show an :class:`AvaffectError` to the user as its one line (a ``gr.Error``)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AvaffectError as err:
            raise gr.Error(str(err), print_exception=False) from None

    return wrapper


class Handlers:
    """The event handlers; every one of them turns a user mistake into one clear line."""

    def __init__(self, engine: SharedEngine, options: ServeOptions, work_dir: Path) -> None:
        self.engine = engine
        self.options = options
        self.work_dir = work_dir

    # -- live ------------------------------------------------------------------------
    def new_session(self) -> LiveSession:
        return LiveSession(self.engine, self.options)

    @user_errors
    def live_frame(self, image, session: LiveSession | None):
        """The webcam stream's handler: the picture every frame, the plots twice a second."""
        return self._live(image, session, PLOT_EVERY_S)

    @user_errors
    def live_frame_api(self, image, session: LiveSession | None):
        """The same analysis on an ordinary endpoint (gradio_client cannot call a stream)."""
        return self._live(image, session, 0.0)

    def _live(self, image, session: LiveSession | None, plot_every_s: float) -> tuple:
        session = session or self.new_session()
        update = None if image is None else session.process(image)
        if update is None:  # no picture, or this tab's previous frame is still running
            return (*[gr.skip()] * 6, session)
        now = time.monotonic()
        picture, status = update.annotated_rgb, live_status(update, session)
        if now - session.plots_shown_at < plot_every_s:
            return (picture, *[gr.skip()] * 4, status, session)
        session.plots_shown_at = now
        faces = update.result.faces
        return (
            picture,
            plots.va_history(session.history),
            plots.au_bars(faces),
            plots.expression_confidences(faces),
            plots.faces_summary(faces),
            status,
            session,
        )

    @user_errors
    def live_audio(self, chunk, session: LiveSession | None) -> LiveSession:
        session = session or self.new_session()
        if chunk is not None:
            sample_rate, samples = chunk
            session.add_audio(sample_rate, samples)
        return session

    # -- image -----------------------------------------------------------------------
    @user_errors
    def analyze_image(self, path: str | None):
        if not path:
            raise AvaffectError("no photo received; upload a JPEG or PNG with a face")
        o = self.options
        image = read_image(path, o.max_upload_bytes, o.max_image_pixels)
        annotated, result = analyze_photo(self.engine, image, o)
        n = len(result.faces)
        note = f"{n} face{'s' if n != 1 else ''} found."
        if self.engine.spec.uses_audio:
            note += " This model is audio-visual; a photo has no sound, so it heard silence."
        rgb = np.ascontiguousarray(annotated[..., ::-1])
        return rgb, plots.faces_table(result.faces), note

    # -- video -----------------------------------------------------------------------
    @user_errors
    def analyze_video(self, path: str | None, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        if not path:
            raise AvaffectError("no video received; upload an MP4, WebM or MOV file")
        o = self.options
        probe_video(path, o.max_upload_bytes, o.max_video_s)
        progress((0, None), desc="analysing frames", unit="frames")

        def report(done: int, total: int | None) -> None:
            progress((done, total), desc="analysing frames", unit="frames")

        result = analyze_video(
            self.engine, path, o, new_job_dir(self.work_dir), report
        )
        if result.note:
            gr.Warning(result.note)
        va, aus, expressions = plots.timelines(result.rows)
        return result.video, va, aus, expressions, str(result.csv), video_summary(result.summary)


def live_status(update: LiveUpdate, session: LiveSession) -> str:
    n = len(update.result.faces)
    parts = [
        f"{update.fps:.1f} FPS" if update.fps else "-- FPS",
        f"latency {update.latency_ms:.0f} ms",
        f"{n} face{'s' if n != 1 else ''}",
        f"{session.frames_dropped} frames dropped",
    ]
    if session.uses_audio:
        skew = update.result.skew
        if not session.mic.chunks:
            parts.append("no microphone sound yet: the model hears silence")
        elif skew is not None:
            parts.append(f"A/V skew {skew * 1000:.0f} ms")
    return " · ".join(parts)


def video_summary(summary: dict) -> str:
    lat = summary.get("latency_ms") or {}
    tracks = summary["tracks"]
    return (
        f"{summary['frames']} frames, {summary['face_rows']} face rows, {tracks} "
        f"track{'s' if tracks != 1 else ''}; {summary['fps'] or '--'} frames/s; model {summary['model']} on "
        f"{summary['backend']} ({summary['device']}); median per-frame latency "
        f"{lat.get('median', '--')} ms"
    )


def build_app(engine: Engine, options: ServeOptions | None = None) -> gr.Blocks:
    """The app for ``engine`` (wrapped in a :class:`SharedEngine` unless it is one)."""
    options = resolve_detector(options or ServeOptions())
    shared = engine if isinstance(engine, SharedEngine) else SharedEngine(engine)
    work_dir = Path(tempfile.mkdtemp(prefix="avaffect-serve-"))  # video jobs' outputs
    handlers = Handlers(shared, options, work_dir)
    spec = shared.spec
    # Gradio writes every output picture into its cache; bound it (check every 10 min,
    # remove files older than 20 min) so a long-running live demo does not fill the disk.
    # No usage analytics: a face-analysis server should not report to anyone by default.
    with gr.Blocks(title="avaffect", delete_cache=(600, 1200), analytics_enabled=False) as demo:
        gr.Markdown(
            f"## avaffect: facial affect, live\nModel **{spec.model}** on {spec.backend} "
            f"({spec.device}, {spec.precision}): valence and arousal, 8 action units and 7 "
            "expressions for every face."
            + (" This model also listens: allow the microphone." if spec.uses_audio else "")
        )
        session = gr.State(None, time_to_live=SESSION_TTL_S)
        with gr.Tabs():
            with gr.Tab("Live", id="live"):
                _live_tab(handlers, session, options, spec.uses_audio)
            with gr.Tab("Video", id="video"):
                _video_tab(handlers)
            with gr.Tab("Image", id="image"):
                _image_tab(handlers)
        demo.load(handlers.new_session, None, session, api_visibility="private")
    demo.queue(default_concurrency_limit=options.max_sessions)
    weakref.finalize(demo, shutil.rmtree, work_dir, ignore_errors=True)
    return demo


def _live_tab(handlers: Handlers, session: gr.State, options: ServeOptions, audio: bool) -> None:
    webcam, mic, shown = _live_layout(audio)
    outputs = [*shown, session]
    common = {"time_limit": options.session_limit_s, "concurrency_limit": options.max_sessions}
    webcam.stream(
        handlers.live_frame, [webcam, session], outputs, stream_every=options.stream_every_s,
        concurrency_id="live", api_name="live_stream", **common,
    )  # fmt: skip
    mic.stream(
        handlers.live_audio, [mic, session], [session], stream_every=AUDIO_EVERY_S,
        concurrency_id="live_audio", api_name="live_audio_stream", **common,
    )  # fmt: skip
    # The same handlers on ordinary endpoints, for scripts: gradio_client's predict cannot
    # call .stream events. A hidden button is their trigger; the page never shows it.
    api = gr.Button(visible=False)
    api.click(
        handlers.live_frame_api, [webcam, session], outputs,
        concurrency_limit=options.max_sessions, concurrency_id="live", api_name="live_frame",
    )  # fmt: skip
    api.click(handlers.live_audio, [mic, session], [session], api_name="live_audio")


def _live_layout(audio: bool) -> tuple[gr.Image, gr.Audio, list]:
    """(webcam, microphone, [annotated, VA plot, AU bars, expression, faces, status])."""
    with gr.Row():
        with gr.Column():
            webcam = gr.Image(
                sources=["webcam"], streaming=True, label="Webcam", elem_id="live-webcam",
                webcam_options=gr.WebcamOptions(
                    mirror=True, constraints={"video": {"width": 640, "height": 480}}
                ),
            )  # fmt: skip
            mic = gr.Audio(
                sources=["microphone"], streaming=True, label="Microphone", visible=audio,
                elem_id="live-mic",
            )  # fmt: skip
        with gr.Column():
            annotated = gr.Image(
                label="Analysis",
                show_label=False,  # the label would hide the overlay's FPS readout
                format="jpeg",
                interactive=False,
                elem_id="live-annotated",
            )
            status = gr.Markdown(
                "Press Record under the webcam to start.",
                elem_id="live-status",
                elem_classes="avaffect-status",
            )
    with gr.Row():
        va = _plot(gr.LinePlot, "Valence and arousal (last 10 s)", [-1, 1], "live-va")
        aus = gr.BarPlot(
            x="AU", y="probability", color="face", y_lim=[0, 1], sort=list(AUS),
            title="Action units", elem_id="live-aus",
        )  # fmt: skip
        expressions = gr.Label(num_top_classes=7, label="Expression", elem_id="live-expression")
    faces = gr.Dataframe(label="Faces", interactive=False, elem_id="live-faces")
    return webcam, mic, [annotated, va, aus, expressions, faces, status]


def _plot(kind, title: str, y_lim: list[float], elem_id: str):
    """A plot of ``plots``' long-format tables: x seconds, y value, one colour per series."""
    return kind(x="seconds", y="value", color="series", y_lim=y_lim, title=title, elem_id=elem_id)


def _video_tab(handlers: Handlers) -> None:
    with gr.Row():
        with gr.Column():
            video_in = gr.Video(sources=["upload"], label="Video", elem_id="video-in")
            run = gr.Button("Analyze", variant="primary", elem_id="video-run")
        with gr.Column():
            video_out = gr.Video(
                label="Annotated", show_label=False, interactive=False, elem_id="video-out"
            )
            csv = gr.File(label="Results (CSV)", interactive=False, elem_id="video-csv")
            summary = gr.Markdown(elem_id="video-summary")
    va = _plot(gr.LinePlot, "Valence and arousal", [-1, 1], "video-va")
    aus = _plot(gr.LinePlot, "Action units", [0, 1], "video-aus")
    expressions = _plot(gr.LinePlot, "Expressions", [0, 1], "video-expressions")
    run.click(
        handlers.analyze_video, [video_in], [video_out, va, aus, expressions, csv, summary],
        concurrency_limit=1, concurrency_id="video", api_name="analyze_video",
    )  # fmt: skip


def _image_tab(handlers: Handlers) -> None:
    with gr.Row():
        photo = gr.File(file_types=["image"], type="filepath", label="Photo", elem_id="photo-in")
        annotated = gr.Image(
            label="Annotated", show_label=False, interactive=False, elem_id="photo-annotated"
        )
    note = gr.Markdown(elem_id="photo-note")
    table = gr.Dataframe(label="Outputs per face", interactive=False, elem_id="photo-table")
    photo.upload(
        handlers.analyze_image, [photo], [annotated, table, note], api_name="analyze_image"
    )


def launch(demo: gr.Blocks, options: ServeOptions, *, block: bool = True, quiet: bool = False):
    """Start the server as configured (host, port, share, upload limit, theme, CSS).

    Returns Gradio's ``(app, local_url, share_url)``; with ``block=True`` only once the
    server stops (Ctrl-C).
    """
    return demo.launch(
        server_name=options.host,
        server_port=options.port,
        share=options.share,
        max_file_size=options.max_upload_bytes,
        prevent_thread_lock=not block,
        show_error=False,
        quiet=quiet,
        run_history=False,  # uploads are people's faces: keep no copy in the browser
        theme=gr.themes.Soft(primary_hue="orange"),
        css=CSS,
    )
