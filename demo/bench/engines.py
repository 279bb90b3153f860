"""Engine benchmark: step latency (p50/p95) and faces/s per backend and face batch size.

`avaffect bench --engines` runs it (on an untrained model of the chosen architecture by
default: latency does not depend on the weights). Warm-up steps are excluded; on a GPU the
device is synchronised before each clock reading. Each step carries the hidden state forward,
as live analysis does. Backends that cannot run here are listed as skipped, with the reason.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avaffect.engines.backends import BACKENDS
from avaffect.errors import AvaffectError

DEFAULT_BACKENDS = tuple(BACKENDS)
DEFAULT_BATCHES = (1, 4, 8)


def bench_engines(
    checkpoint: str | os.PathLike,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    batch_sizes: Sequence[int] = DEFAULT_BATCHES,
    *,
    steps: int = 50,
    warmup: int = 5,
    device: str | None = None,
    precision: str = "fp32",
    cache_dir: str | os.PathLike | None = None,
    cuda_graphs: bool = False,
) -> dict:
    """Time ``engine.step`` for each backend and batch size; returns a JSON-ready dict.

    ``cuda_graphs`` is passed to ``load_engine`` (the torch backend on CUDA replays a captured
    graph; elsewhere it is refused, and that backend is listed as skipped with the reason).
    """
    from avaffect.engines import load_engine

    rows, skipped, model = [], [], None
    for backend in backends:
        try:
            engine = load_engine(
                checkpoint,
                backend,
                device,
                precision=precision,
                max_faces=max(batch_sizes),
                cache_dir=cache_dir,
                cuda_graphs=cuda_graphs,
            )
        except AvaffectError as err:
            skipped.append({"backend": backend, "reason": str(err)})
            continue
        model = engine.spec.model
        for faces in batch_sizes:
            rows.append({**_time_engine(engine, faces, steps, warmup), "cuda_graphs": cuda_graphs})
    return {
        "checkpoint": str(checkpoint),
        "model": model,
        "steps": steps,
        "warmup": warmup,
        "rows": rows,
        "skipped": skipped,
        "environment": environment(),
    }


def _time_engine(engine, n: int, steps: int, warmup: int) -> dict:
    spec = engine.spec
    rng = np.random.default_rng(0)
    faces = rng.uniform(-1, 1, (n, *spec.face.shape)).astype(np.float32) if spec.uses_face else None
    audio = (
        rng.uniform(-1, 1, (n, *spec.audio.shape)).astype(np.float32) if spec.uses_audio else None
    )
    sync = _synchroniser(spec.device)
    state = engine.init_state(n)
    for _ in range(warmup):
        _, state = engine.step(faces, audio, state)
    times = []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        _, state = engine.step(faces, audio, state)
        sync()
        times.append(time.perf_counter() - start)
    p50, p95 = np.percentile(np.array(times) * 1000.0, [50, 95])
    return {
        "backend": spec.backend,
        "device": spec.device,
        "precision": spec.precision,
        "faces": n,
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "faces_per_s": round(n / (float(p50) / 1000.0), 1),
    }


def _synchroniser(device: str):
    if not device.startswith("cuda"):
        return lambda: None
    import torch

    return torch.cuda.synchronize


def environment() -> dict:
    import torch

    from avaffect.engines.backend_onnxruntime import physical_cores
    from avaffect.engines.manifest import current_versions

    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "physical_cores": physical_cores(),
        "torch_threads": torch.get_num_threads(),
        "versions": current_versions(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_table(result: dict) -> str:
    """The result as a fixed-width table (skipped backends below it)."""
    header = f"{'backend':<12} {'device':<8} {'prec':<5} {'faces':>5} {'p50 ms':>9} {'p95 ms':>9} {'faces/s':>9}"
    lines = [
        f"model {result['model']} ({result['checkpoint']}), {result['steps']} steps after "
        f"{result['warmup']} warm-up",
        header,
        "-" * len(header),
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['backend']:<12} {r['device']:<8} {r['precision']:<5} {r['faces']:>5} "
            f"{r['p50_ms']:>9.2f} {r['p95_ms']:>9.2f} {r['faces_per_s']:>9.1f}"
        )
    for s in result["skipped"]:
        lines.append(f"{s['backend']:<12} skipped: {s['reason']}")
    return "\n".join(lines)
