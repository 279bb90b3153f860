"""The live window (OpenCV HighGUI): shows annotated frames; q, Esc or closing it quits."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from avaffect.errors import AvaffectError

QUIT_KEYS = (ord("q"), ord("Q"), 27)  # 27 = Esc


def display_available() -> bool:
    """Whether a window can open. OpenCV's Qt build aborts the process without a display,
    so this is checked before the first call rather than caught after it."""
    if not sys.platform.startswith("linux"):
        return True
    offscreen = os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc"))
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or offscreen)


class LiveWindow:
    def __init__(self, title: str = "avaffect live (q to quit)") -> None:
        if not display_available():
            raise AvaffectError(
                "no display for the live window (DISPLAY is not set); run with --headless "
                "(add --csv FILE and/or --record FILE to keep the results)"
            )
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as err:
            raise AvaffectError(
                f"cannot open a window ({err.msg.strip()}); run with --headless"
            ) from None
        self._shown = False

    def show(self, image: np.ndarray) -> bool:
        """Show ``image``; False once the user pressed q/Esc or closed the window."""
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        if key in QUIT_KEYS:
            return False
        visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE)
        if self._shown and visible < 1:
            return False
        self._shown = True
        return True

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
