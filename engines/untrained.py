"""An untrained checkpoint of a registered model: what a benchmark times when no trained
weights are at hand (a step's latency does not depend on the weights)."""

from __future__ import annotations

from pathlib import Path


def untrained_checkpoint(model: str, folder: str, width: float | None) -> Path:
    """An untrained checkpoint of ``model`` in ``folder`` (timing needs no trained weights),
    with fixed weights (seed 0) so that its exports are the same file every run and the
    engine cache is reused instead of filled anew."""
    import torch

    from avaffect.checkpoint import CheckpointConfig, save_checkpoint
    from avaffect.train.models import create_model

    kwargs = {} if width is None else {"width": width}
    path = Path(folder) / f"{model}.safetensors"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        weights = create_model(model, **kwargs).state_dict()
    save_checkpoint(path, weights, CheckpointConfig(model=model, model_kwargs=kwargs))
    return path
