"""The consuming side of a run, in the caller's thread: overlay, sinks, window, statistics.

:func:`run_session` drives a started :class:`Pipeline` to its end (end of file, q/Esc,
window closed, Ctrl-C, or a worker failure), always closes the sinks so partial outputs are
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
    clock: Callable[[], float] = time.monotonic,
) -> RunStats:
    """Consume ``pipeline``'s results until it ends; returns the run's statistics.

    ``progress`` is anything with ``update(n)`` (a tqdm bar); ``max_frames`` stops early.
    """
    stats = stats or RunStats()
    try:
        with pipeline:
            for result in pipeline.results():
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
    finally:
        _close_all(sinks, window)
    return stats


def _close_all(sinks: Sequence[Sink], window: LiveWindow | None) -> None:
    for sink in sinks:
        try:
            sink.close()
        except Exception as err:  # noqa: BLE001 - one failing sink must not lose the others' output
            log.warning("could not finish %s: %s", type(sink).__name__, err)
    if window is not None:
        window.close()
