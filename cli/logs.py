"""Logging of every command: progress lines ``avaffect: ...`` on stderr."""

from __future__ import annotations

import logging
import sys


def setup_logging(quiet: bool = False) -> None:
    """Progress lines of every command: ``avaffect: ...`` on stderr; ``quiet`` keeps warnings only."""
    logger = logging.getLogger("avaffect")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("avaffect: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
