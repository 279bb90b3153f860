"""The benchmark's machine description and its terminal table."""

from __future__ import annotations

import platform
import shutil
import subprocess

from avaffect.demo.bench.engines import environment


def describe_machine() -> dict:
    """CPU, GPU, driver, CUDA and library versions: what a reader needs to compare figures."""
    import torch

    machine = {"os": platform.platform(), **environment()}
    machine["versions"] = {**machine.get("versions", {}), **_more_versions()}
    machine["torch_cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        machine["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        machine["gpu_compute_capability"] = f"{props.major}.{props.minor}"
        machine["nvidia_driver"] = _nvidia_driver()
    return machine


def _more_versions() -> dict:
    import cv2
    import numpy

    return {"opencv": cv2.__version__, "numpy": numpy.__version__}


def _nvidia_driver() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


def format_report(result: dict) -> str:
    """Every section as fixed-width text; what was skipped is listed with its reason."""
    m = result["machine"]
    gpu = m.get("gpu") or "no CUDA GPU"
    lines = [
        f"machine: {m.get('cpu')} ({m.get('physical_cores')} cores), {gpu}"
        + (f", driver {m['nvidia_driver']}" if m.get("nvidia_driver") else "")
        + f"; torch {m['versions'].get('torch')}, python {m.get('python')}",
        f"model: {result['model']}"
        + (" (untrained weights: timing does not depend on them)" if result["untrained"] else ""),
    ]
    for section in ("engines", "pipeline", "streams"):
        body = result.get(section)
        if body is None:
            continue
        lines.append("")
        if "skipped" in body and isinstance(body["skipped"], str):
            lines.append(f"{section}: skipped: {body['skipped']}")
            continue
        lines.extend(_FORMATTERS[section](body))
    return "\n".join(lines)


def _engine_lines(body: dict) -> list[str]:
    header = (
        f"{'backend':<12} {'device':<7} {'prec':<5} {'graphs':<6} {'faces':>5} "
        f"{'p50 ms':>9} {'p95 ms':>9} {'faces/s':>9}"
    )
    lines = [
        f"engine step ({body['steps']} steps after {body['warmup']} warm-up, median and p95)",
        header,
        "-" * len(header),
    ]
    for r in body["rows"]:
        lines.append(
            f"{r['backend']:<12} {r['device']:<7} {r['precision']:<5} "
            f"{'yes' if r.get('cuda_graphs') else 'no':<6} {r['faces']:>5} "
            f"{r['p50_ms']:>9.3f} {r['p95_ms']:>9.3f} {r['faces_per_s']:>9.1f}"
        )
    for s in body["skipped"]:
        graphs = " +graphs" if s.get("cuda_graphs") else ""
        lines.append(f"{s['backend']:<12} {s['precision']}{graphs}: skipped: {s['reason']}")
    return lines


def _pipeline_lines(body: dict) -> list[str]:
    agg = body["aggregate"]
    first = body["runs"][0]
    lines = [
        f"pipeline on {body['video']} ({first['frame_size'][0]}x{first['frame_size'][1]}, "
        f"{first['source_fps']} FPS, paced), {first['backend']} {first['precision']} on "
        f"{first['device']}, {len(body['runs'])} run(s), medians over runs:",
        f"  FPS {agg['fps']}  dropped frames {agg['dropped_frames']}  capture->overlay "
        f"latency median {agg['latency_ms']['median']} ms, p95 {agg['latency_ms']['p95']} ms",
        "  stages (median/p95 ms): "
        + ", ".join(f"{k} {v['median']}/{v['p95']}" for k, v in agg["stages_ms"].items()),
        "  " + _face_line(body["faces"]),
    ]
    return _flagged(body["faces"], lines)


def _face_line(faces: dict) -> str:
    return (
        f"faces: {faces['faces_per_frame']} per frame, found in {faces['frames_with_face']} of "
        f"{faces['frames']} timed frames"
    )


def _flagged(faces: dict, lines: list[str]) -> list[str]:
    """A section whose video had too few faces says so above its figures, not below them."""
    if faces["measured"]:
        return lines
    return [f"{faces['not_measured']}: the figures below are not a measurement", *lines]


def _stream_lines(body: dict) -> list[str]:
    lines = [
        f"concurrent streams, {body['engine']}: largest number sustained without a "
        f"dropped frame: {body['max_streams_without_drops']}"
        + ("" if body["search_complete"] else " (search stopped early: time budget)"),
        _face_line(body["faces"]),
        f"{'streams':>7} {'sustained':>9} {'total FPS':>9} {'min FPS':>8} {'skipped':>8} "
        f"{'p95 ms':>8} {'faces/call':>10}",
    ]
    for t in body["trials"]:
        fps = [s["fps"] or 0.0 for s in t["per_stream"]] or [0.0]
        skipped = sum(s["skipped_frames"] for s in t["per_stream"])
        p95 = max((s.get("latency_ms_p95") or 0.0 for s in t["per_stream"]), default=0.0)
        per_call = t.get("faces_per_engine_call")
        lines.append(
            f"{t['streams']:>7} {'yes' if t['sustained'] else 'no':>9} "
            f"{t['aggregate_fps']:>9.1f} {min(fps):>8.1f} {skipped:>8} {p95:>8.1f} "
            f"{'-' if per_call is None else per_call:>10}"
        )
    return _flagged(body["faces"], lines)


_FORMATTERS = {"engines": _engine_lines, "pipeline": _pipeline_lines, "streams": _stream_lines}
