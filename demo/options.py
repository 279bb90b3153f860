"""What `avaffect serve` can be told: the server's own options composed with a stream's."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, replace

from avaffect.errors import AvaffectError
from avaffect.options import Options
from avaffect.realtime.detector_model import find_yunet_model, yunet_unsupported
from avaffect.realtime.options import RunOptions

log = logging.getLogger("avaffect.demo")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass
class ServerOptions(Options):
    """The server and the limits that keep one user from exhausting it (uploads, concurrent
    live streams, stream length)."""

    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    max_upload_mb: float = 200.0
    max_video_s: float = 600.0  # longest uploaded video analysed, in seconds
    max_image_pixels: int = 40_000_000
    max_sessions: int = 4  # live streams served at once; more wait in the queue
    session_limit_s: int = 600  # a live stream stops after this; the user clicks again
    stream_every_s: float = 0.1  # how often the browser sends a webcam frame

    def check(self) -> None:
        if not 0 < self.port < 65536:
            raise AvaffectError(f"--port {self.port} is not a TCP port; use 1-65535 (default 7860)")
        for name in ("max_upload_mb", "max_video_s", "max_sessions", "session_limit_s"):
            if getattr(self, name) <= 0:
                flag = "--" + name.replace("_", "-")
                raise AvaffectError(f"{flag} must be positive, got {getattr(self, name)}")
        if not 0.02 <= self.stream_every_s <= 2.0:
            raise AvaffectError(
                f"--stream-every {self.stream_every_s} s is out of range; use 0.02-2 (default 0.1)"
            )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@dataclass
class ServeOptions(ServerOptions, RunOptions):
    """The app's configuration: the server, and the stream every tab builds (RunOptions:
    the model, the face detector, the audio of uploaded videos). Defaults work."""


def resolve_detector(options: ServeOptions) -> ServeOptions:
    """Find and check YuNet's file once for the whole server rather than once per browser
    tab; on an OpenCV that cannot run YuNet, every tab uses the Haar cascade, and one
    warning says why."""
    if options.detector != "yunet":
        return options
    reason = yunet_unsupported()
    if reason:
        log.warning("%s; every tab uses the Haar cascade detector", reason)
        return replace(options, detector="haar", detector_model=None)
    return replace(options, detector_model=str(find_yunet_model(options.detector_model)))


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
