"""The checkpoint format: one safetensors file whose header carries its own JSON config.

Weights are safetensors (never pickle: checkpoints are things users download). The config
sits in the safetensors metadata under the key ``avaffect`` and names the model and its
arguments, the input spec (face crop and spectrogram), the label order, the training data
and metrics. Loading needs nothing else. Writes are atomic: a crash never leaves half a file
where a good checkpoint was. A packed copy (``avaffect pack``) stores its weights in fp16, or
its weight matrices in int8 (:mod:`avaffect.quantize`); both load back as fp32.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.labels import labels_dict
from avaffect.quantize import SCALE_SUFFIX, dequantize_int8, quantizable, quantize_int8

FORMAT = "avaffect-checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "avaffect"


@dataclass
class CheckpointConfig:
    """Everything needed to rebuild and feed a model, stored beside its weights."""

    model: str
    model_kwargs: dict = field(default_factory=dict)
    face: FaceSpec = field(default_factory=FaceSpec)
    audio: SpectrogramConfig | None = None  # None for visual-only models
    labels: dict = field(default_factory=labels_dict)
    training: dict = field(default_factory=dict)  # data, recipe, step, optimiser state path...
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # e.g. ArcFace class centres' provenance

    @property
    def step_rate(self) -> float | None:
        """Steps a second this recurrent model was trained at (the clock its GRU learnt), or
        None where training fixed none (frame models, sequences of video frames)."""
        rate = self.training.get("step_rate")
        if rate is None:  # checkpoints from before it was recorded: the recipe's data option
            data = (self.training.get("config") or {}).get("data") or {}
            rate = (data.get("options") or {}).get("step_rate")
        return None if rate is None else float(rate)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "model_kwargs": self.model_kwargs,
            "face": self.face.to_dict(),
            "audio": None if self.audio is None else self.audio.to_dict(),
            "labels": self.labels,
            "training": self.training,
            "metrics": self.metrics,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "checkpoint") -> CheckpointConfig:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise AvaffectError(f"{source}: not an avaffect checkpoint (no '{FORMAT}' config in its header)")
        if not isinstance(data.get("format_version", 0), int):
            raise AvaffectError(f"{source}: checkpoint format version {data['format_version']!r} is not a number")
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise AvaffectError(
                f"{source}: checkpoint format {data['format_version']} is newer than this avaffect "
                f"understands ({FORMAT_VERSION}); upgrade avaffect"
            )
        try:
            return cls(
                model=data["model"],
                model_kwargs=dict(data.get("model_kwargs", {})),
                face=FaceSpec.from_dict(data.get("face", {})),
                audio=None if data.get("audio") is None else SpectrogramConfig.from_dict(data["audio"]),
                labels=data.get("labels", labels_dict()),
                training=dict(data.get("training", {})),
                metrics=dict(data.get("metrics", {})),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise AvaffectError(f"{source}: checkpoint config is malformed ({err})") from None
        except AvaffectError as err:  # a bad face or spectrogram spec: say which file
            raise AvaffectError(f"{source}: {err}") from None


@dataclass
class Checkpoint:
    config: CheckpointConfig
    state_dict: dict[str, torch.Tensor]
    path: Path | None = None


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], config: CheckpointConfig) -> Path:
    """Write weights and config atomically (temp file in the same folder, then rename)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    data = save_bytes(_dedupe_shared(tensors), metadata={METADATA_KEY: json.dumps(config.to_dict())})
    return write_atomic(path, data)


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    A unique name opened exclusively, then renamed: not mkstemp, which makes the file 0600,
    while a checkpoint is meant to be shared (open() honours the user's umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _dedupe_shared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied weights): store each as its own copy."""
    seen: set[int] = set()
    out = {}
    for name, tensor in tensors.items():
        ptr = tensor.untyped_storage().data_ptr() if tensor.numel() else -1
        out[name] = tensor.clone() if ptr in seen else tensor
        seen.add(ptr)
    return out


def read_config(path: str | os.PathLike) -> CheckpointConfig:
    """Read only the header's config (cheap: no weights are loaded)."""
    return load_checkpoint(path, weights=False).config


def load_checkpoint(path: str | os.PathLike, weights: bool = True) -> Checkpoint:
    """Load a checkpoint; every way it can be wrong is a one-line :class:`AvaffectError`."""
    path = Path(path)
    if not path.is_file():
        raise AvaffectError(f"{path}: checkpoint not found; pass the path of a .safetensors file or a shipped model name")
    header = _read_header(path)
    raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if raw is None:
        raise AvaffectError(f"{path}: safetensors file without an avaffect config; was it saved by avaffect?")
    try:
        config = CheckpointConfig.from_dict(json.loads(raw), source=str(path))
    except (json.JSONDecodeError, TypeError):
        raise AvaffectError(f"{path}: the checkpoint's config is not valid JSON (file corrupt?)") from None
    if config.labels != labels_dict():
        raise AvaffectError(f"{path}: label order {config.labels} differs from this avaffect's; it cannot be used as is")
    state: dict[str, torch.Tensor] = {}
    if weights:
        try:
            state = load_bytes(path.read_bytes())
        except (SafetensorError, ValueError, OSError) as err:
            raise AvaffectError(f"{path}: weights unreadable ({err}); the file is truncated or corrupt") from None
        state = dequantize_int8(state)  # `avaffect pack --int8` files load as fp32 weights
        _refuse_non_finite(path, state)
    return Checkpoint(config=config, state_dict=state, path=path)


def _refuse_non_finite(path: Path, state: dict[str, torch.Tensor]) -> None:
    """A NaN or Inf weight makes every prediction meaningless (near-uniform probabilities,
    NaN valence) without any error downstream: refuse the file, naming the tensor."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise AvaffectError(
                f"{path}: tensor {name!r} holds {bad} non-finite value(s) (NaN or Inf); the "
                "checkpoint is corrupt or its training diverged: use an earlier checkpoint"
            )


def _read_header(path: Path) -> dict:
    """Parse the safetensors header ourselves, so a damaged file gives a clear message."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise AvaffectError(f"{path}: file is {size} bytes, too short to be a checkpoint (truncated?)")
        length = int.from_bytes(prefix, "little")
        if length <= 0 or 8 + length > size:
            raise AvaffectError(f"{path}: not a safetensors checkpoint, or truncated (header length {length}, file {size} bytes)")
        try:
            header = json.loads(handle.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise AvaffectError(f"{path}: safetensors header is not valid JSON (file corrupt?)") from None
    malformed = AvaffectError(f"{path}: safetensors header is malformed (file corrupt?)")
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__") or {}, dict):
        raise malformed
    try:
        data_end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (KeyError, TypeError, IndexError, ValueError):
        raise malformed from None
    if 8 + length + data_end > size:
        raise AvaffectError(f"{path}: file is truncated ({size} bytes, header says {8 + length + data_end})")
    return header


def file_sha256(path: str | os.PathLike) -> str:
    """The checkpoint's hash, recorded in engine manifests to know when to rebuild."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pack_checkpoint(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    dtype: torch.dtype = torch.float16,
    model_kwargs: dict | None = None,
    int8: bool = False,
) -> Path:
    """A copy of ``source`` whose floating-point tensors are stored as ``dtype`` (fp16 halves
    the file, which is how the shipped defaults fit in git). Loading casts them back into the
    model's fp32 parameters, so every consumer works unchanged; whether accuracy holds is for
    the caller to measure on the packed file. Integer tensors (BN's batch counters) stay.

    ``model_kwargs`` are merged into the config's: inference-only options that need no
    retraining (``mirror_average``); the caller checks that the model accepts them.
    ``int8`` stores the weight matrices as int8 with a scale per output channel
    (:mod:`avaffect.quantize`), about half the size of fp16."""
    ckpt = load_checkpoint(source)
    limit = torch.finfo(dtype).max
    packed = {}
    for name, tensor in ckpt.state_dict.items():
        if int8 and quantizable(tensor):
            packed[name], packed[name + SCALE_SUFFIX] = quantize_int8(tensor)
            continue
        if tensor.is_floating_point():
            if tensor.numel() and tensor.abs().max().item() > limit:
                raise AvaffectError(
                    f"{source}: tensor {name!r} holds values beyond {dtype} range ({limit:g}); keep it fp32"
                )
            tensor = tensor.to(dtype)
        packed[name] = tensor
    config = ckpt.config
    config.model_kwargs = {**config.model_kwargs, **(model_kwargs or {})}
    packing = {"dtype": str(dtype).removeprefix("torch."), "source_sha256": file_sha256(source)}
    if int8:
        packing["weights"] = "int8, one scale per output channel"
    if model_kwargs:  # the config's metrics were measured without them
        packing["added_model_kwargs"] = dict(model_kwargs)
    config.extra = {**config.extra, "packed": packing}
    return save_checkpoint(destination, packed, config)
