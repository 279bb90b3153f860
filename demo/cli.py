"""`avaffect serve`: the browser interface (Gradio) on this machine."""

from __future__ import annotations

import argparse
import importlib
import logging

SERVE_EPILOG = """\
examples:
  avaffect serve                                         # http://127.0.0.1:7860, shipped default model
  avaffect serve --checkpoint m.safetensors --port 8080 --backend onnxruntime
  avaffect serve --host 0.0.0.0                          # your network can reach it

tabs: Live (your webcam, and microphone for audio-visual models, streamed to the server),
Video (upload a clip: annotated video, timelines, CSV) and Image (every face of a photo).
The server listens on 127.0.0.1 only unless --host or --share says otherwise; there is no
login, so anyone who can reach it can use it. Needs the 'ui' extra: pip install 'avaffect[ui]'.
"""


def add_serve_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="the browser interface: live webcam, video and photo analysis",
        description="Serve avaffect in the browser (Gradio): a live tab for the webcam (and "
        "microphone), a video tab and an image tab. Each browser tab keeps its own face tracks "
        "and GRU states; all tabs share one engine.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: all "
        "interfaces, with a warning)",
    )
    p.add_argument("--port", type=int, default=7860, help="TCP port (default: 7860)")
    p.add_argument(
        "--share",
        action="store_true",
        help="also open a public *.gradio.live link (anyone with it can use the app; warns)",
    )
    p.add_argument("--checkpoint", metavar="NAME|PATH", help="shipped model name or checkpoint")
    p.add_argument(
        "--backend", default="auto", help="auto, torch, onnxruntime, tensorrt, torch2trt"
    )
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: the backend's choice)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--detector", default="yunet", choices=("yunet", "haar"))
    p.add_argument("--detector-model", metavar="PATH", help="YuNet .onnx file")
    p.add_argument("--max-faces", type=int, default=8, help="most faces per frame (default: 8)")
    p.add_argument(
        "--max-upload-mb", type=float, default=200.0, help="largest upload (default: 200 MB)"
    )
    p.add_argument(
        "--max-video-s", type=float, default=600.0, help="longest video analysed (default: 600 s)"
    )
    p.add_argument(
        "--max-sessions", type=int, default=4, help="live streams served at once (default: 4)"
    )
    p.add_argument(
        "--session-limit-s",
        type=int,
        default=600,
        help="a live stream stops after this many seconds; Record restarts it (default: 600)",
    )
    p.add_argument(
        "--stream-every",
        type=float,
        default=0.1,
        metavar="S",
        help="seconds between webcam frames sent by the browser (default: 0.1)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from avaffect.cli import setup_logging
    from avaffect.demo.options import ServeOptions
    from avaffect.realtime.launch import load_engine_for

    setup_logging(args.quiet)
    options = ServeOptions(
        host=args.host, port=args.port, share=args.share, checkpoint=args.checkpoint,
        backend=args.backend, device=args.device, precision=args.precision,
        detector=args.detector, detector_model=args.detector_model, max_faces=args.max_faces,
        max_upload_mb=args.max_upload_mb, max_video_s=args.max_video_s,
        max_sessions=args.max_sessions, session_limit_s=args.session_limit_s,
        stream_every_s=args.stream_every,
    )  # fmt: skip
    gradio_app = _import_app()  # before the slow engine load: a missing extra fails at once
    engine = load_engine_for(options.run_options())
    warn_if_exposed(options)
    demo = gradio_app.build_app(engine, options)
    try:
        gradio_app.launch(demo, options, block=True, quiet=args.quiet)
    except OSError as err:  # the port is taken, or the address is not this machine's
        from avaffect.errors import AvaffectError

        raise AvaffectError(
            f"cannot listen on {options.host}:{options.port} ({err}); pick another --port"
        ) from None
    finally:
        demo.close()
    return 0


def warn_if_exposed(options) -> None:
    """One warning per way the server can be reached from elsewhere (the default is not)."""
    from avaffect.demo.options import is_loopback

    log = logging.getLogger("avaffect")
    if options.share:
        log.warning(
            "--share: a public link will let anyone on the internet who has it use this app "
            "and this machine's compute; there is no login"
        )
    if not is_loopback(options.host):
        log.warning(
            "listening on %s: anyone who can reach this machine on port %d can use the app and "
            "stream to it; there is no login",
            options.host,
            options.port,
        )


def _import_app():
    from avaffect.errors import AvaffectError

    try:
        app = importlib.import_module("avaffect.demo.app")
    except ImportError as err:
        if "gradio" not in str(err):
            raise
        raise AvaffectError(
            "the browser interface needs Gradio 6: pip install 'avaffect[ui]'"
        ) from None
    return app
