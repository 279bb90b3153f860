"""`make gpu-check` (scripts/gpu_check.py): without a GPU it prints its plan and why each part
is skipped and exits 0; its runner keeps to its time limits and tabulates real results."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only plan")


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import gpu_check

    return gpu_check


@no_gpu
def test_without_a_gpu_it_prints_the_plan_and_why_and_exits_0(tmp_path):
    out = tmp_path / "check"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "no CUDA GPU" in text.splitlines()[0] and "make TORCH_SPEC=torch" in text
    for part in ("cuda_tests", "bench_mt_vgg_torch", "bench_default_av_fer2013_crema_d_ravdess",
                 "streams", "train_probe", "bench_mt_vgg_tensorrt", "bench_mt_vgg_torch2trt"):  # fmt: skip
        line = next(line for line in text.splitlines() if line.startswith(f"- {part} "))
        assert "[skipped: no CUDA GPU]" in line
    assert "--streams 64" in text and "--batch-sizes 1 2 4 8 16 32 64" in text
    assert "--precisions fp32 fp16 bf16" in text
    assert not out.exists()  # nothing run, nothing written


def test_the_makefile_target_runs_the_script():
    done = subprocess.run(
        ["make", "-n", "gpu-check", "VIDEO=face.mp4"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert 'scripts/gpu_check.py --video "face.mp4"' in done.stdout


def test_parts_keep_their_time_limits_and_the_table_shows_the_figures(gpu_check, tmp_path):
    bench = [sys.executable, "-m", "avaffect.cli", "bench", "--engines", "--checkpoint",
             "default_stream_fer2013", "--backends", "onnxruntime", "--precisions", "fp32",
             "--batch-sizes", "1", "--steps", "3", "--warmup", "1",
             "--json", str(tmp_path / "bench_x.json"), "-q"]  # fmt: skip
    parts = [
        gpu_check.Part("bench_x", bench, 120, result="bench_x.json"),
        gpu_check.Part("slow", [sys.executable, "-c", "import time; time.sleep(30)"], 1),
        gpu_check.Part("streams", ["false"], 60, result="streams.json"),
        gpu_check.Part("absent", ["true"], 60, skipped="tensorrt is not installed"),
    ]
    gpu_check.run_parts(parts, tmp_path, budget_s=300)
    assert [p.status for p in parts[:3]] == [
        "ok",
        "stopped after 1 s (time limit)",
        "failed (exit 1, see streams.log)",
    ]
    assert parts[3].status == "skipped" and parts[1].seconds < 10
    table = gpu_check.summary_table(parts, tmp_path, "test machine")
    assert "| bench_x | ok |" in table and "skipped: tensorrt is not installed" in table
    row = next(line for line in table.splitlines() if "| onnxruntime | fp32 |" in line)
    assert row.startswith("| av_mt_vgg_rnn_lite |") or row.startswith("| mt_vgg_rnn_lite |")


def test_a_part_that_would_pass_the_budget_is_skipped(gpu_check, tmp_path):
    parts = [gpu_check.Part("late", ["true"], 60)]
    gpu_check.run_parts(parts, tmp_path, budget_s=5)
    assert parts[0].status == "skipped" and "budget" in parts[0].skipped


def test_the_check_benchmarks_the_shipped_defaults_users_run(monkeypatch):
    import importlib.util
    import sys

    from avaffect.shipped import DEFAULT_AV_MODEL, DEFAULT_MODEL, SHIPPED

    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # registered first, as an import would: its dataclasses look their module up by name
    monkeypatch.setitem(sys.modules, "gpu_check", module)
    spec.loader.exec_module(module)
    assert {DEFAULT_MODEL, DEFAULT_AV_MODEL} <= set(module.SHIPPED) <= set(SHIPPED)
