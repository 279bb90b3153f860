"""From a config to the model a run trains: its keyword arguments and its starting weights.

The input sizes a model is built for follow the run's own face and audio settings
(``face_size``, ``spectrogram_shape``), so the checkpoint, its FaceSpec and its spectrogram
config can never disagree. ``init_from`` starts a model from an earlier stage of the paper's
recipes: the CNN trunk of a CNN-RNN or of an ArcFace net from a frame model with that trunk,
the two streams of the audio-visual model from their phase-1 checkpoints (or a trained
audio-visual model whole, its audio stream then swapped for ``init_audio_from``'s), or the same
network (re-training an ArcFace net on an expression database).
"""

from __future__ import annotations

import torch

from avaffect.checkpoint import load_checkpoint
from avaffect.errors import AvaffectError, CheckpointNotFound
from avaffect.shipped import resolve_checkpoint
from avaffect.train.config import TrainConfig
from avaffect.train.models import create_model
from avaffect.train.models.base import AffectModel
from avaffect.train.models.registry import model_options


def model_kwargs(config: TrainConfig) -> dict:
    """The recipe's model kwargs plus the input sizes the run's face/audio settings imply."""
    accepted = model_options(config.model.name)
    kwargs = dict(config.model.kwargs)
    if "face_size" in accepted:
        kwargs.setdefault("face_size", config.face.size)
    if "spectrogram_shape" in accepted:
        kwargs.setdefault("spectrogram_shape", list(config.audio.shape))
    return kwargs


def build_model(config: TrainConfig) -> tuple[AffectModel, dict]:
    """(model, the kwargs it was built with); the kwargs go into every checkpoint."""
    kwargs = model_kwargs(config)
    return create_model(config.model.name, **kwargs), kwargs


def initialise(model: AffectModel, config: TrainConfig) -> str:
    """Load ``model.init_from`` / ``model.init_audio_from`` into ``model``; returns a line that
    says what was loaded ("" when nothing was asked)."""
    face_src, audio_src = config.model.init_from, config.model.init_audio_from
    if hasattr(model, "load_stream_weights") and (face_src or audio_src):
        face_ckpt = load_checkpoint(_resolve(face_src, "model.init_from")) if face_src else None
        if face_ckpt is not None and face_ckpt.config.model == config.model.name:
            # a trained audio-visual model (fusion GRU and heads too), its audio stream then
            # replaced by init_audio_from's: a new voice for a fusion that already works
            _load_same(model, face_ckpt.state_dict, face_src)
            if audio_src:
                model.load_stream_weights(audio_state=_weights(audio_src, "model.init_audio_from"))
            return f"initialised from {face_src} (same network), audio stream from {audio_src or '-'}"
        face_state = face_ckpt.state_dict if face_ckpt is not None else None
        audio_state = _weights(audio_src, "model.init_audio_from") if audio_src else None
        model.load_stream_weights(face_state=face_state, audio_state=audio_state)
        return f"streams initialised from face={face_src or '-'} audio={audio_src or '-'}"
    if audio_src:
        raise AvaffectError(
            f"model.init_audio_from is for the audio-visual models; {config.model.name} has no audio stream"
        )
    if not face_src:
        return ""
    ckpt = load_checkpoint(_resolve(face_src, "model.init_from"))
    if ckpt.config.model == config.model.name:
        _load_same(model, ckpt.state_dict, face_src)
        return f"initialised from {face_src} (same network, {ckpt.config.model})"
    if hasattr(model, "load_frame_weights"):
        model.load_frame_weights(ckpt.state_dict)
        return f"CNN trunk initialised from {face_src} ({ckpt.config.model})"
    raise AvaffectError(
        f"cannot initialise {config.model.name} from {face_src}, a {ckpt.config.model} checkpoint; "
        "init_from takes the same network, or a frame model for a CNN-RNN or an ArcFace net"
    )


def _weights(source: str, key: str) -> dict[str, torch.Tensor]:
    return load_checkpoint(_resolve(source, key)).state_dict


def _resolve(source: str, key: str):
    """A path or shipped name; a missing earlier stage says how to get it (a shipped file that
    is there but damaged keeps its own error, which says to reinstall)."""
    try:
        return resolve_checkpoint(source)
    except CheckpointNotFound:
        raise AvaffectError(
            f"{key}={source!r} not found; train that stage first, point {key} at its checkpoint, "
            f'or start from scratch with {key}=""'
        ) from None


def _load_same(model: AffectModel, state: dict[str, torch.Tensor], source: str) -> None:
    own = model.state_dict()
    wrong = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in state]
    if wrong or missing:
        what = f"shape of {wrong[0]!r} differs" if wrong else f"{missing[0]!r} is missing"
        raise AvaffectError(f"{source}: weights do not fit this model ({what}); was it built with other model.kwargs?")
    model.load_state_dict(state, strict=False)
