"""The training configuration: plain dataclasses with working defaults, read from a recipe TOML
and adjusted with ``key=value`` overrides on the command line.

A recipe names only what differs from the defaults below. Overrides use dotted keys for the
nested sections (``optim.lr=0.01``, ``model.kwargs.width=8``) and TOML literals for values
(``steps=200``, ``loss.weights={va=1, au=0.5}``; a bare word is taken as a string). Every key
is checked against the dataclasses, so a typo is an error that lists the valid keys instead of a
silently ignored setting. The resolved config is saved with every run and inside every
checkpoint, so a run can always be told and repeated.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.train.objectives.losses import VA_LOSSES

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "step")


@dataclass
class ModelSection:
    """Which network to build and what to start it from."""

    name: str = "mt_vgg"
    kwargs: dict = field(default_factory=dict)  # keyword arguments of create_model (width, task...)
    # A checkpoint to start from: a frame model's trunk for a CNN-RNN (load_frame_weights), the
    # face stream of the A/V model (load_stream_weights), or the same model to re-train it.
    init_from: str = ""
    # The audio stream of the A/V model (load_stream_weights); only with av_* models.
    init_audio_from: str = ""


@dataclass
class DataSection:
    """Which database to read and how to cut it."""

    dataset: str = "affwild2"
    path: str = ""
    train_split: str = "train"
    val_split: str = "validation"
    sequence_length: int = 90  # frames per training sequence; used only by recurrent models
    val_limit: int = 0  # evaluate on at most this many validation samples (0: all)
    options: dict = field(default_factory=dict)  # extra keyword arguments of open_dataset


@dataclass
class OptimSection:
    name: str = "adam"
    lr: float = 1e-4
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    milestones: list = field(default_factory=list)  # "step" schedule: steps where lr *= gamma
    gamma: float = 0.1
    grad_clip: float = 0.0  # max gradient norm (0: no clipping)


@dataclass
class LossSection:
    """Arguments of :class:`avaffect.train.objectives.losses.MultiTaskLoss`."""

    weights: dict = field(default_factory=lambda: {"va": 1.0, "au": 1.0, "expr": 1.0})
    va_loss: str = "ccc"  # ccc (the paper's eq. 3) | mse | ccc+mse
    label_smoothing: float = 0.0
    expr_class_weights: list = field(default_factory=list)  # 7 weights, or [] for none
    au_pos_weight: list = field(default_factory=list)  # 8 weights, or [] for none
    margin_warmup_steps: int = 0  # ArcFace: grow the margin from 0 over this many steps


@dataclass
class AugmentSection:
    """Training-time augmentation of the face input (sane defaults; the paper names none)."""

    enabled: bool = True
    flip: bool = True  # mirror left-right with probability 1/2 (labels are symmetric)
    max_shift: int = 4  # translate by up to this many pixels in x and y
    brightness: float = 0.1  # add a uniform offset in [-b, b] (input range is [-1, 1])
    contrast: float = 0.1  # scale about the mean by a factor in [1 - c, 1 + c]
    # Off by default (every recipe that predates them is unchanged): in-plane rotation and zoom,
    # applied with the shift as one affine warp, and random erasing (Zhong et al., AAAI 2020)
    rotation: float = 0.0  # rotate by up to this many degrees either way
    scale: float = 0.0  # zoom by a factor in [1 - s, 1 + s]
    erase: float = 0.0  # probability of blanking a random rectangle with noise
    erase_area: float = 0.2  # its largest area, as a fraction of the face (smallest: 0.02)

    def __post_init__(self) -> None:
        for key in ("max_shift", "brightness", "contrast", "rotation", "scale"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must not be negative, got {getattr(self, key)}")
        if not 0.0 <= self.erase <= 1.0:
            raise ValueError(f"erase is a probability in [0, 1], got {self.erase}")
        if not 0.02 <= self.erase_area <= 1.0:
            raise ValueError(f"erase_area must be in [0.02, 1], got {self.erase_area}")
        if self.scale >= 1.0:
            raise ValueError(f"scale must be below 1 (a zoom factor 1 +/- scale), got {self.scale}")


def default_num_workers() -> int:
    """Data-loading processes: one per core beyond the two the training step uses, at most 4.

    On a 2-core machine extra workers only contend with the step's own threads (and PyTorch
    warns about it); decoding FER2013 or cropped Aff-Wild2 frames is cheap next to the step.
    """
    return max(0, min(4, (os.cpu_count() or 1) - 2))


@dataclass
class TrainConfig:
    """One training run. ``steps`` counts optimiser steps; when 0, ``epochs`` decides."""

    description: str = ""
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    face: FaceSpec = field(default_factory=FaceSpec)
    audio: SpectrogramConfig = field(default_factory=SpectrogramConfig)  # audio models only
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    batch_size: int = 256  # global: split over the processes of a distributed run
    steps: int = 0
    epochs: int = 10
    eval_every: int = 0  # optimiser steps between validations (0: at the end of every epoch)
    checkpoint_every: int = 1000  # optimiser steps between writes of last.safetensors
    select_metric: str = "auto"  # validation metric that picks best.safetensors
    seed: int = 0
    num_workers: int = field(default_factory=default_num_workers)
    amp: bool = True  # mixed precision (fp16) on CUDA
    # bf16 autocast of training steps on a CPU that has it natively (AMX / AVX512-BF16; about
    # 2x faster there). Off by default so that a run's figures never depend on the CPU.
    cpu_bf16: bool = False
    deterministic: bool = False  # also force deterministic kernels (slower on CUDA)
    device: str = "auto"
    fit_centres: bool = True  # ArcFace models: fit class centres on training embeddings at the end
    # Validate and save best.safetensors from an exponential moving average of the weights
    # (each step moves it 1 - ema_decay of the way; 0.998: about the last 500 steps); 0: off.
    # last.safetensors keeps the trained weights, which --resume continues.
    ema_decay: float = 0.0
    out: str = ""  # run folder; "" means runs/<recipe name>

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check values that the dataclass types cannot; each failure is one clear line."""
        _check_choice("optim.name", self.optim.name, OPTIMIZERS)
        _check_choice("optim.schedule", self.optim.schedule, SCHEDULES)
        _check_choice("loss.va_loss", self.loss.va_loss, VA_LOSSES)
        for key in ("batch_size", "data.sequence_length"):
            if _get_dotted(self, key) < 1:
                raise AvaffectError(f"{key} must be at least 1, got {_get_dotted(self, key)}")
        for key in ("steps", "epochs", "eval_every", "checkpoint_every", "num_workers", "data.val_limit",
                    "loss.margin_warmup_steps"):
            if _get_dotted(self, key) < 0:
                raise AvaffectError(f"{key} must not be negative, got {_get_dotted(self, key)}")
        if self.steps == 0 and self.epochs == 0:
            raise AvaffectError("set steps or epochs above 0: the run would train for nothing")
        if not 0.0 <= self.ema_decay < 1.0:
            raise AvaffectError(f"ema_decay must be in [0, 1) (0: off; 0.998 averages about 500 steps), got {self.ema_decay}")
        if not (self.optim.lr > 0 and math.isfinite(self.optim.lr)):
            raise AvaffectError(f"optim.lr must be a positive number, got {self.optim.lr}")
        unknown = set(self.loss.weights) - {"va", "au", "expr"}
        if unknown:
            raise AvaffectError(f"loss.weights has unknown task(s) {sorted(unknown)}; use va, au, expr")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build from a (recipe) dict, checking every key and type."""
        return _build(cls, data, "")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise AvaffectError(f"{key}={value!r} is not one of {', '.join(choices)}")


def _get_dotted(obj: object, key: str):
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


# ---- building dataclasses from dicts, with types checked -------------------------------------


def _build(cls: type, data: dict, prefix: str):
    if not isinstance(data, dict):
        raise AvaffectError(f"{prefix.rstrip('.') or 'config'} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise AvaffectError(
            f"unknown setting {prefix}{unknown[0]!r}; valid keys here: {', '.join(prefix + n for n in names)}"
        )
    kwargs = {name: _coerce(data[name], hints[name], prefix + name) for name in names if name in data}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise AvaffectError(f"{prefix.rstrip('.') or 'config'}: {err}") from None


def _coerce(value, hint, key: str):
    """``value`` as type ``hint`` (int, float, bool, str, dict, list, a dataclass, or X | None)."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(value, options[0], key)
    hint = typing.get_origin(hint) or hint
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (hint is int and isinstance(value, bool)) or not isinstance(value, hint):
        raise AvaffectError(f"{key} must be {_type_word(hint)}, got {value!r}")
    return value


def _type_word(hint: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            dict: "a table like {a=1}", list: "a list like [1, 2]"}.get(hint, hint.__name__)


# ---- recipes ---------------------------------------------------------------------------------


def recipes_dir() -> Path:
    return Path(str(importlib.resources.files("avaffect.train.recipes")))


def list_recipes() -> dict[str, str]:
    """Shipped recipe name -> its description (what it reproduces)."""
    out = {}
    for path in sorted(recipes_dir().glob("*.toml")):
        out[path.stem] = str(_read_toml(path).get("description", "")).strip()
    return out


def load_recipe(name_or_path: str) -> tuple[str, dict]:
    """A shipped recipe name or a .toml path -> (name, raw dict)."""
    path = Path(name_or_path).expanduser()
    if name_or_path.endswith(".toml"):
        if not path.is_file():
            raise AvaffectError(f"recipe file {path} not found")
        return path.stem, _read_toml(path)
    shipped = recipes_dir() / f"{name_or_path}.toml"
    if not shipped.is_file():
        raise AvaffectError(
            f"unknown recipe {name_or_path!r}; `avaffect train --list` shows the shipped ones, "
            "or pass a .toml file"
        )
    return name_or_path, _read_toml(shipped)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise AvaffectError(f"{path}: not valid TOML ({err})") from None


# ---- overrides -------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], object]:
    """``"optim.lr=0.01"`` -> (["optim", "lr"], 0.01). The value is a TOML literal; a bare word
    that is not one (``model.name=mt_vgg``) is taken as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise AvaffectError(f"override {text!r} is not KEY=VALUE (e.g. optim.lr=0.001)")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        if any(c in raw for c in "[]{}\"'="):
            raise AvaffectError(f"override {text!r}: {raw.strip()!r} is not a valid TOML value") from None
        value = raw.strip()
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Return a copy of ``data`` with each ``key=value`` set (keys checked later, in from_dict,
    except that a key must name a table or a value consistently)."""
    out = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise AvaffectError(f"override {text!r}: {'.'.join(path[: i + 1])} is a value, not a table")
            node = child
        _check_override_key(path)
        node[path[-1]] = value
    return out


def _check_override_key(path: list[str]) -> None:
    """Unknown keys are an error that lists the valid ones (free-form tables excepted)."""
    cls: type = TrainConfig
    for i, part in enumerate(path):
        names = {f.name: f for f in dataclasses.fields(cls)}
        if part not in names:
            prefix = ".".join(path[:i])
            valid = ", ".join((prefix + "." if prefix else "") + n for n in names)
            raise AvaffectError(f"unknown setting {'.'.join(path[: i + 1])!r}; valid keys: {valid}")
        hint = typing.get_type_hints(cls)[part]
        if not dataclasses.is_dataclass(hint):
            return  # a value or a free-form table (model.kwargs, loss.weights...)
        cls = hint


def _deep_copy(data: dict) -> dict:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def build_config(recipe: str, overrides: list[str] = (), **direct) -> tuple[str, TrainConfig]:
    """Recipe name or path + overrides -> (recipe name, config). ``direct`` are dotted keys set
    after the overrides (the CLI's ``--data`` and ``--out``), e.g. ``{"data.path": "..."}``."""
    name, data = load_recipe(recipe)
    extra = [f"{key}={_toml_value(value)}" for key, value in direct.items() if value is not None]
    return name, TrainConfig.from_dict(apply_overrides(data, [*overrides, *extra]))


def changed_settings(saved: dict, now: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose value differs between two config dicts (e.g. ``steps`` raised)."""
    keys = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_settings(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


# ---- writing TOML (tomllib only reads) -------------------------------------------------------


def to_toml(data: dict) -> str:
    """A config dict as TOML that :func:`load_recipe` reads back (None values are left out)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict) and v is not None]
    for key, value in data.items():
        if isinstance(value, dict):
            lines += _toml_table(key, value)
    return "\n".join(lines) + "\n"


def _toml_table(name: str, table: dict) -> list[str]:
    scalars = {k: v for k, v in table.items() if v is not None and not _is_section(v)}
    lines = ["", f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in scalars.items())]
    for key, value in table.items():
        if _is_section(value):
            lines += _toml_table(f"{name}.{key}", value)
    return lines


def _is_section(value) -> bool:
    """Nested tables with tables inside are sections; flat ones stay inline ({va=1.0, ...})."""
    return isinstance(value, dict) and any(isinstance(v, dict) for v in value.values())


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)
