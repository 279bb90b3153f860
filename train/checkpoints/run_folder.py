"""A run folder's checkpoints: ``last.safetensors`` with its resume state beside it, and
``best.safetensors``; whether a folder may start or resume a run."""

from __future__ import annotations

from pathlib import Path

from avaffect.checkpoint import Checkpoint, CheckpointConfig, load_checkpoint, save_checkpoint
from avaffect.errors import AvaffectError
from avaffect.train.checkpoints.checkpointing import load_state, save_state, state_path

LAST, BEST = "last.safetensors", "best.safetensors"


def check_out_dir(out: Path, resume: bool) -> None:
    has_run = (out / LAST).is_file()
    if resume and not has_run:
        raise AvaffectError(f"{out}: no {LAST} to resume from; drop --resume to start a new run there")
    if not resume and has_run:
        raise AvaffectError(f"{out} already holds a run; pass --resume to continue it, or --out NEW_DIR")


def save_last(out: Path, weights: dict, config: CheckpointConfig, state: dict) -> None:
    """``last.safetensors`` and its state file, the state first: a crash in between is detected
    by :func:`read_last` (their steps differ)."""
    save_state(state_path(out / LAST), state)
    save_checkpoint(out / LAST, weights, config)


def read_last(out: Path, world_size: int) -> tuple[Checkpoint, dict]:
    """The checkpoint and state a run resumes from, checked to belong together and to a run of
    ``world_size`` processes (otherwise the data order cannot continue where it stopped)."""
    ckpt = load_checkpoint(out / LAST)
    state = load_state(state_path(out / LAST))
    if ckpt.config.training.get("step") != state["step"]:
        raise AvaffectError(
            f"{out}: {LAST} (step {ckpt.config.training.get('step')}) and its state file "
            f"(step {state['step']}) differ; the run was cut off while saving; start afresh"
        )
    if state["world_size"] != world_size:
        raise AvaffectError(
            f"{out} was trained by {state['world_size']} process(es); resume it with as many "
            f"(now {world_size}), or the data order cannot continue where it stopped"
        )
    return ckpt, state
