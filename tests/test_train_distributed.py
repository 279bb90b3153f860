"""Distributed data parallel on CPU: two processes launched by torchrun, gloo backend, a few
steps of a tiny net. Each shard sees different data, yet both ranks must end with identical
weights, and only rank 0 writes the run folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from avaffect.checkpoint import load_checkpoint, read_config
from avaffect.train.data import write_synthetic_affwild2

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")

WORKER = textwrap.dedent(
    """
    import os, sys
    from safetensors.torch import save_file
    from avaffect.train.config import build_config
    from avaffect.train.loop.trainer import train

    data, out = sys.argv[1], sys.argv[2]
    overrides = ["model.name=mt_vgg_lite", "model.kwargs.width=0.125", "face.size=48", "batch_size=16",
                 "steps=6", "eval_every=3", "checkpoint_every=3", "num_workers=0", "optim.lr=1e-3",
                 "data.val_limit=20"]
    config = build_config("mt_vgg", overrides, **{"data.path": data, "out": out})[1]
    result = train(config, recipe="mt_vgg", progress=False)
    state = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, os.path.join(out, "..", f"rank{os.environ['RANK']}.safetensors"))
    """
)


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    data = write_synthetic_affwild2(tmp_path / "affwild2", videos=3, frames=40, audio=False, seed=2)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(script), str(data), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "the ranks' weights diverged"
    saved = load_checkpoint(out / "last.safetensors").state_dict
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)
    config = read_config(out / "last.safetensors")
    assert config.training["world_size"] == 2 and config.training["step"] == 6
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len({line.split(",")[0] for line in rows[1:]})  # one writer, no doubled rows
