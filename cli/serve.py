"""`avaffect serve`: the browser interface (Gradio) on this machine."""

from __future__ import annotations

import argparse
import importlib
import logging

from avaffect.cli.flags import (
    UNSET,
    add_detector_flags,
    add_engine_flags,
    add_quiet_flag,
    options_from,
)
from avaffect.cli.logs import setup_logging

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
        "--host", default=UNSET,
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: all "
        "interfaces, with a warning)",
    )  # fmt: skip
    p.add_argument("--port", type=int, default=UNSET, help="TCP port (default: 7860)")
    p.add_argument(
        "--share", action="store_true", default=UNSET,
        help="also open a public *.gradio.live link (anyone with it can use the app; warns)",
    )  # fmt: skip
    p.add_argument(
        "--max-upload-mb", type=float, default=UNSET, help="largest upload (default: 200 MB)"
    )
    p.add_argument(
        "--max-video-s", type=float, default=UNSET, help="longest video analysed (default: 600 s)"
    )
    p.add_argument(
        "--max-sessions", type=int, default=UNSET,
        help="live streams served at once (default: 4)",
    )  # fmt: skip
    p.add_argument(
        "--session-limit-s", type=int, default=UNSET,
        help="a live stream stops after this many seconds; Record restarts it (default: 600)",
    )  # fmt: skip
    p.add_argument(
        "--stream-every", dest="stream_every_s", type=float, default=UNSET, metavar="S",
        help="seconds between webcam frames sent by the browser (default: 0.1)",
    )  # fmt: skip
    # every tab's stream: the same groups as live, analyze and bench (the sound is the
    # browser's microphone or the uploaded file's track, so there are no audio flags)
    add_engine_flags(p, checkpoint_help="shipped model name or checkpoint (default: the shipped default)")
    add_detector_flags(p)
    add_quiet_flag(p)
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from avaffect.demo.options import ServeOptions
    from avaffect.realtime.stream import load_engine_for

    setup_logging(args.quiet)
    options = options_from(ServeOptions, args)
    gradio_app = _import_app()  # before the slow engine load: a missing extra fails at once
    engine = load_engine_for(options)
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
