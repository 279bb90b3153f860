"""`avaffect calibrate`: measure a checkpoint's int8 activation ranges on its own training data.

The fp32 graph is run over frames of the database the checkpoint was trained on (its config
names it; ``data_path`` overrides where it lives), spread evenly over the training split, a
recurrent model stepping through whole sequences with its GRU state carried so that the
state's range is the one live use meets. The ranges go into a copy of the checkpoint
(``config.extra["int8"]``, with how they were measured); the weights are copied byte for
byte. With that copy, ``--precision int8`` on ONNX Runtime needs nothing else
(:mod:`avaffect.engines.int8`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from avaffect.checkpoint import CheckpointConfig, load_checkpoint, save_checkpoint
from avaffect.engines.graph import HIDDEN_INPUT, HIDDEN_OUTPUT
from avaffect.engines.int8 import CALIBRATION_METHOD, CONFIG_KEY, QUANTIZED_OPS, measure_ranges
from avaffect.engines.manifest import read_manifest
from avaffect.engines.sources import LoadOptions, Source, ensure_onnx
from avaffect.errors import AvaffectError
from avaffect.shipped import resolve_checkpoint
from avaffect.train.evaluation.evaluate import open_eval_data, spread_subset

#: frames measured by default: ranges settle within a few hundred (MinMax over real frames)
DEFAULT_FRAMES = 512
_BATCH = 16


def calibrate_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    data_path: str | None = None,
    split: str | None = None,
    frames: int = DEFAULT_FRAMES,
    cache_dir: str | os.PathLike | None = None,
) -> dict:
    """Write ``out``: ``checkpoint`` with int8 ranges measured on ``frames`` frames of its
    training data. Returns the calibration record stored in its config."""
    if frames < 1:
        raise AvaffectError(f"--frames must be at least 1, got {frames}")
    source = resolve_checkpoint(checkpoint)
    ckpt = load_checkpoint(source, weights=False)
    training = ckpt.config.training
    dataset, path = training.get("dataset"), data_path or training.get("path")
    split = split or training.get("train_split") or "Training"
    if not dataset or not path:
        raise AvaffectError(
            f"{source.name} does not say what it was trained on; calibrate it with --data PATH "
            "on a checkpoint trained by `avaffect train`"
        )
    if not Path(path).expanduser().exists():
        raise AvaffectError(
            f"{path}: the {dataset} data {source.name} was trained on is not there; pass "
            f"--data PATH (where {dataset} is on this machine)"
        )
    onnx_path = ensure_onnx(Source("checkpoint", source), LoadOptions(cache_dir=cache_dir), fp16=False)
    manifest = read_manifest(onnx_path)
    scored = open_eval_data(
        ckpt.config, manifest.recurrent, manifest.uses_audio, dataset, str(path), split=split
    )
    # spread over the split: as many samples (sequences or stills) as make ``frames`` frames
    data = spread_subset(scored.data, max(1, frames // (scored.seq_len or 1)))
    feeds = list(_feeds(onnx_path, manifest, data, frames))
    ranges = measure_ranges(onnx_path, feeds)
    record = {
        "ranges": ranges,
        "method": f"{CALIBRATION_METHOD} over activations; QDQ, weights int8 per output channel",
        "quantized_ops": list(QUANTIZED_OPS),
        "data": {"dataset": dataset, "path": str(path), "split": split},
        "frames": sum(len(next(iter(f.values()))) for f in feeds),
        "onnx": manifest.versions,
    }
    _write_calibrated(source, ckpt.config, Path(out), record)
    return record


def _feeds(onnx_path: Path, manifest, data, frames: int) -> Iterator[dict[str, np.ndarray]]:
    """The fp32 graph's input feeds over ``data``: batches of frames, or for a recurrent
    model every step of batches of sequences with the state the fp32 graph carries."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [t.name for t in manifest.inputs]
    hidden_layers, hidden_units = manifest.hidden_shape or (0, 0)
    given = 0
    for batch in DataLoader(data, batch_size=_BATCH, shuffle=False):
        arrays = {name: batch[name].numpy().astype(np.float32) for name in names if name in batch}
        if not manifest.recurrent:
            yield arrays
            given += len(next(iter(arrays.values())))
        else:
            n, steps = next(iter(arrays.values())).shape[:2]
            hidden = np.zeros((hidden_layers, n, hidden_units), np.float32)
            for t in range(steps):
                feed = {name: value[:, t] for name, value in arrays.items()}
                feed[HIDDEN_INPUT] = hidden
                yield feed
                hidden = session.run([HIDDEN_OUTPUT], feed)[0]
            given += n * steps
        if given >= frames:
            return


def _write_calibrated(source: Path, config: CheckpointConfig, out: Path, record: dict) -> None:
    """A copy of ``source`` (whose ``config`` this is) that also carries ``record``; its
    tensors as stored (a packed int8 or fp16 file stays packed)."""
    from safetensors.torch import load_file

    config.extra = {**config.extra, CONFIG_KEY: record}
    save_checkpoint(out, load_file(str(source)), config)
