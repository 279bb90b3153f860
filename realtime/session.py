"""The consuming side of a run, in the caller's thread: overlay, sinks, window, statistics.

:func:`run_session` drives a started :class:`Pipeline` to its end (end of file, q/Esc,
window closed, Ctrl-C or SIGTERM, or a worker failure), always closes the sinks so partial outputs are
flushed, joins every thread, and then re-raises a worker's failure as an AvaffectError.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from avaffect.realtime.display import LiveWindow
from avaffect.realtime.overlay import Overlay
from avaffect.realtime.pipeline import Pipeline
from avaffect.realtime.sinks import Sink
from avaffect.realtime.stats import RunStats

log = logging.getLogger("avaffect.realtime")


def run_session(
    pipeline: Pipeline,
    *,
    overlay: Overlay | None = None,
    sinks: Sequence[Sink] = (),
    window: LiveWindow | None = None,
    progress=None,
    stats: RunStats | None = None,
    max_frames: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> RunStats:
    """Consume ``pipeline``'s results until it ends; returns the run's statistics.

    ``progress`` is anything with ``update(n)`` (a tqdm bar); ``max_frames`` stops early;
    ``should_stop`` is checked between frames (a signal's :class:`~avaffect.run_status.StopFlag`):
    the frame in hand is written whole, then everything is closed as at the end of a file.
    A Ctrl-C that reaches here as KeyboardInterrupt ends the run the same way; either one
    sets ``stats.interrupted``.
    """
    stats = stats or RunStats()
    try:
        with pipeline:
            for result in pipeline.results(should_stop=should_stop):
                start = clock()
                annotated = None
                if overlay is not None:
                    annotated = overlay.draw(result, stats.fps, clock() - result.frame.captured_at)
                result.timings["draw"] = clock() - start
                now = clock()
                stats.add(result, now - result.frame.captured_at, now)
                for sink in sinks:
                    sink.write(result, annotated)
                if progress is not None:
                    progress.update(1)
                if window is not None and annotated is not None and not window.show(annotated):
                    log.info("window closed; stopping")
                    break
                if max_frames is not None and stats.seen >= max_frames:
                    break
    except KeyboardInterrupt:
        log.info("interrupted; stopping")
        stats.interrupted = True
    finally:
        _close_all(sinks, window)
    if should_stop():
        log.info("interrupted; outputs closed")
        stats.interrupted = True
    return stats


def _close_all(sinks: Sequence[Sink], window: LiveWindow | None) -> None:
    for sink in sinks:
        try:
            sink.close()
        except Exception as err:  # noqa: BLE001 - one failing sink must not lose the others' output
            log.warning("could not finish %s: %s", type(sink).__name__, err)
    if window is not None:
        window.close()
