"""`avaffect bench`: what users compare, in one run.

Three sections, each built on the function that already measures it:

- engines: ``engine.step`` latency (median, p95) and faces/s per backend, precision, CUDA
  graphs and face batch size (:func:`avaffect.demo.bench.engines.bench_engines`);
- pipeline: the whole real-time pipeline on a paced 30 FPS video, repeated: FPS, per-stage
  times, drops, capture-to-overlay latency (:func:`avaffect.demo.bench.pipeline.bench_pipeline`);
- streams: the largest number of 30 FPS streams one engine sustains without a dropped frame
  (:func:`avaffect.demo.bench.streams.bench_streams`).

The pipeline and streams sections build their streams from the same :class:`RunOptions` as
`avaffect live` (engine, detector, audio), which :class:`BenchOptions` composes.

Warm-up is excluded everywhere, GPU work is synchronised before each clock reading, and a
backend, precision or device that cannot run here is listed as skipped with the reason.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from avaffect.demo.bench.engines import DEFAULT_BACKENDS, bench_engines
from avaffect.demo.bench.report import describe_machine
from avaffect.engines.untrained import untrained_checkpoint
from avaffect.errors import AvaffectError
from avaffect.realtime.options import RunOptions
from avaffect.shipped import available_shipped, default_checkpoint, resolve_checkpoint

log = logging.getLogger("avaffect.demo")

SECTIONS = ("engines", "pipeline", "streams")
GPU_MODEL, CPU_MODEL = "mt_vgg", "mt_vgg_lite"


@dataclass
class BenchOptions(RunOptions):
    """What to measure; ``None`` fields pick a default suited to the machine (GPU or not).
    The stream of the pipeline and streams sections is the :class:`RunOptions` part
    (``checkpoint``, ``backend``, ``device``, ``precision``, the detector...)."""

    sections: tuple[str, ...] = SECTIONS
    # untrained registered model; None: mt_vgg on a GPU (the paper's bar), else the shipped
    # default that `avaffect live` runs
    model: str | None = None
    width: float | None = None
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")
    cuda_graphs: bool = True  # also time the torch backend with CUDA graphs
    batch_sizes: tuple[int, ...] = (1, 4, 8)
    steps: int = 50
    warmup: int = 5
    video: str | None = None
    face_image: str | None = None
    seconds: float = 10.0  # length of the made test video
    repeats: int = 3  # pipeline runs
    precision: str | None = None  # the pipeline's and streams'; None: fp16 on a CUDA GPU, else auto
    max_streams: int | None = None  # None: 64 on a GPU, 4 on the CPU
    streams_budget_s: float = 300.0

    def check(self) -> None:
        for name in ("sections", "backends", "precisions", "batch_sizes"):
            setattr(self, name, tuple(getattr(self, name)))  # any sequence (a flag's list)
        unknown = set(self.sections) - set(SECTIONS)
        if unknown:
            raise AvaffectError(f"unknown bench section(s) {sorted(unknown)}; use {SECTIONS}")
        if self.checkpoint and self.model:
            raise AvaffectError("pass --checkpoint or --model, not both")
        if self.steps < 1 or self.repeats < 1 or min(self.batch_sizes, default=0) < 1:
            raise AvaffectError("--steps, --repeats and every --batch-sizes value must be >= 1")


def run_benchmark(cfg: BenchOptions) -> dict:
    """Run the chosen sections; a JSON-ready dict (see format_report for the table)."""
    gpu = _cuda_available()
    with tempfile.TemporaryDirectory(prefix="avaffect-bench-") as tmp:
        checkpoint, model, untrained = _checkpoint(cfg, Path(tmp), gpu)
        # An untrained model's exports go to the run's own folder, not the user's cache
        # (bench_pipeline uses the cache, where seeded weights make it one entry per model).
        cache = Path(tmp) / "engines" if untrained else None
        result = {
            "machine": describe_machine(),
            "model": model,
            "untrained": untrained,  # timing does not depend on the weights
            "checkpoint": None if untrained else str(checkpoint),
            "config": asdict(cfg),
        }
        if "engines" in cfg.sections:
            result["engines"] = engine_matrix(cfg, checkpoint, cache)
        video, about = _video(cfg, Path(tmp))
        precision = cfg.precision or ("fp16" if gpu else "auto")
        sections = {
            "pipeline": lambda: pipeline_runs(cfg, video, about, checkpoint, precision),
            "streams": lambda: streams(cfg, video, checkpoint, precision, cache, gpu),
        }
        for name, measure in sections.items():
            if name in cfg.sections:
                result[name] = {"skipped": about} if video is None else _or_skipped(measure)
    return result


def _or_skipped(measure) -> dict:
    """The section's result, or why it cannot run here (a backend or device that is absent:
    the same one-line reason the engine loader gives)."""
    try:
        return measure()
    except AvaffectError as err:
        return {"skipped": str(err)}


def engine_matrix(cfg: BenchOptions, checkpoint: Path, cache: Path | None) -> dict:
    """Every backend x precision (x CUDA graphs for torch) through ``bench_engines``."""
    rows, skipped = [], []
    for backend in cfg.backends:
        for precision in cfg.precisions:
            graphs = (False, True) if backend == "torch" and cfg.cuda_graphs else (False,)
            for cuda_graphs in graphs:
                log.info("engines: %s %s%s", backend, precision, " +graphs" if cuda_graphs else "")
                part = bench_engines(
                    checkpoint, [backend], cfg.batch_sizes, steps=cfg.steps, warmup=cfg.warmup,
                    device=cfg.device, precision=precision, cache_dir=cache, cuda_graphs=cuda_graphs,
                )  # fmt: skip
                rows.extend(part["rows"])
                skipped.extend(
                    {**s, "precision": precision, "cuda_graphs": cuda_graphs}
                    for s in part["skipped"]
                )
    return {"steps": cfg.steps, "warmup": cfg.warmup, "rows": rows, "skipped": skipped}


def pipeline_runs(
    cfg: BenchOptions, video: Path, about: str, checkpoint: Path, precision: str
) -> dict:
    """``bench_pipeline`` ``cfg.repeats`` times (paced, as live); medians over the runs."""
    from avaffect.demo.bench.pipeline import bench_pipeline, face_check

    runs = []
    for i in range(cfg.repeats):
        log.info("pipeline: run %d of %d", i + 1, cfg.repeats)
        runs.append(bench_pipeline(video, options=stream_options(cfg, checkpoint, precision), paced=True))
    faces = face_check(*(sum(r[k] for r in runs) for k in ("frames", "frames_with_face", "face_rows")))
    if not faces["measured"]:
        log.warning("pipeline: %s", faces["not_measured"])
    return {
        "video": about, "measured": faces["measured"], "faces": faces, "runs": runs,
        "aggregate": _median_over_runs(runs),
    }  # fmt: skip


def _median_over_runs(runs: list[dict]) -> dict:
    def med(values) -> float | None:
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 3) if values else None

    # a run that timed no frame (a loaded machine, a short video) has no stage times
    stages = list(dict.fromkeys(s for r in runs for s, v in r["stages_ms"].items() if v))
    return {
        "fps": med(r["fps"] for r in runs),
        "dropped_frames": med(r["dropped_frames"] for r in runs),
        "latency_ms": {
            k: med(r["latency_ms"].get(k) for r in runs) for k in ("median", "p95", "max")
        },
        "stages_ms": {
            s: {k: med(r["stages_ms"].get(s, {}).get(k) for r in runs) for k in ("median", "p95")}
            for s in stages
        },
    }


def streams(
    cfg: BenchOptions, video: Path, checkpoint: Path, precision: str, cache: Path | None, gpu: bool
) -> dict:
    from avaffect.demo.bench.streams import bench_streams
    from avaffect.engines import load_engine

    options = stream_options(cfg, checkpoint, precision)
    engine = load_engine(
        checkpoint, options.backend, options.device, precision=precision,
        max_faces=options.max_faces, cache_dir=cache,
    )  # fmt: skip
    cap = cfg.max_streams or (64 if gpu else 4)
    result = bench_streams(video, engine, options, max_streams=cap, budget_s=cfg.streams_budget_s)
    if not result["measured"]:
        log.warning("streams: %s", result["faces"]["not_measured"])
    spec = engine.spec
    return {**result, "backend": spec.backend, "device": spec.device, "precision": spec.precision}


def stream_options(cfg: BenchOptions, checkpoint: Path, precision: str) -> RunOptions:
    """The stream the pipeline and streams sections time: the bench's RunOptions part, on
    the checkpoint and precision this run settled on."""
    return replace(cfg.narrow(RunOptions), checkpoint=str(checkpoint), precision=precision)


def _checkpoint(cfg: BenchOptions, tmp: Path, gpu: bool) -> tuple[Path, str, bool]:
    """(checkpoint file, model name, untrained?) for the run."""
    if cfg.checkpoint:
        from avaffect.checkpoint import read_config

        path = resolve_checkpoint(cfg.checkpoint)
        return path, read_config(path).model, False
    if not cfg.model and not gpu and cfg.width is None and available_shipped():
        from avaffect.checkpoint import read_config

        path = default_checkpoint()
        return path, read_config(path).model, False
    model = cfg.model or (GPU_MODEL if gpu else CPU_MODEL)
    return untrained_checkpoint(model, str(tmp), cfg.width), model, True


def _video(cfg: BenchOptions, tmp: Path) -> tuple[Path | None, str]:
    """(video, what it is) for the pipeline sections, or (None, why they cannot run)."""
    if cfg.video:
        path = Path(cfg.video)
        if not path.is_file():
            raise AvaffectError(f"--video {path}: no such file")
        return path, str(path)
    if cfg.face_image:
        import cv2

        from avaffect.demo.bench.pipeline import make_bench_video

        face = cv2.imread(cfg.face_image)
        if face is None:
            raise AvaffectError(f"--face-image {cfg.face_image}: not a picture OpenCV can read")
        video = make_bench_video(tmp / "bench.mp4", face, cfg.seconds, fps=30.0)
        return video, f"{cfg.seconds:g} s made from {cfg.face_image}"
    return None, "needs a face to track: pass --face-image PHOTO (or --video FILE)"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
