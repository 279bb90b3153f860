"""`avaffect bench --corpus DIR`: files/hour and frames/s of a corpus run at several --jobs.

The same inputs are analysed once per --jobs value, one after the other in one process, each
into a fresh temporary folder (nothing is skipped as complete), so the figures compare on
the same machine under the same load: the scaling is the ratio of the rows, not of two
separate runs. Times are wall-clock, from the first input's start to the last one's end,
worker start-up and model loading included: what a user waits for.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict

from avaffect.corpus.inputs import find_inputs
from avaffect.corpus.runner import run_corpus
from avaffect.realtime.runs import AnalyzeOptions


def bench_corpus(
    specs: Sequence[str], jobs: Sequence[int] = (1, 2), options: AnalyzeOptions | None = None,
    *, progress: bool = True,
) -> dict:  # fmt: skip
    """One row per --jobs value: files, frames, seconds, files/hour, frames/s, speed-up."""
    inputs = find_inputs(list(specs))
    rows = []
    for n in jobs:
        with tempfile.TemporaryDirectory(prefix="avaffect-bench-corpus-") as out:
            start = time.perf_counter()
            run = run_corpus(inputs, out, options, jobs=n, progress=progress)
            seconds = time.perf_counter() - start
        frames = sum(row["frames"] or 0 for row in run.rows)
        complete = sum(row["status"] == "complete" for row in run.rows)
        rows.append(
            {
                "jobs": n, "files": len(inputs), "complete": complete, "frames": frames,
                "seconds": round(seconds, 3), "files_per_hour": round(len(inputs) / seconds * 3600, 1),
                "frames_per_s": round(frames / seconds, 2),
            }
        )  # fmt: skip
    base = rows[0]["seconds"]
    for row in rows:
        row["speedup"] = round(base / row["seconds"], 2)
    used = asdict(options or AnalyzeOptions())
    return {"inputs": [str(i.path) for i in inputs], "options": used, "runs": rows}


def format_corpus(result: dict) -> str:
    lines = [
        f"corpus: {len(result['inputs'])} inputs",
        f"{'jobs':>4} {'complete':>8} {'frames':>7} {'seconds':>8} {'files/h':>9} {'frames/s':>9} {'speed-up':>8}",
    ]
    for r in result["runs"]:
        lines.append(
            f"{r['jobs']:>4} {r['complete']:>5}/{r['files']:<2} {r['frames']:>7} {r['seconds']:>8} "
            f"{r['files_per_hour']:>9} {r['frames_per_s']:>9} {r['speedup']:>7}x"
        )
    return "\n".join(lines)
