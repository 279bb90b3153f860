"""MT-VGG-RNN: the MT-VGG trunk up to its first fc, a 2-layer GRU (128 units), the MT heads.

The same network runs over the face (``mt_vgg_rnn``) or, alone, over the spectrogram
(``mt_vgg_rnn_audio``, phase 1 of the paper's audio-visual recipe). Every recurrent model
has a sequence form and a single-step form; the step form is the sequence form with T = 1,
so run frame by frame it equals the sequence form, and it is what engines export.
"""

from __future__ import annotations

import torch
from torch import nn

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError

from .base import TASKS, AffectModel
from .heads import TaskHeads
from .inputs import require, require_hidden
from .options import check_dropout, face_input_shape, spectrogram_input_shape
from .vgg import VGGTrunk

GRU_LAYERS = 2
GRU_UNITS = 128
#: conv5 of the spectrogram stream is average-pooled to at most this size before fc1
SPECTROGRAM_POOL = (3, 3)


class RecurrentModel(AffectModel):
    """Base of the recurrent models: the step form, derived from the sequence form."""

    recurrent = True
    #: how error messages name the model
    title = "recurrent model"

    def step(
        self,
        face: torch.Tensor | None,
        spectrogram: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One frame: face [B, C, S, S] and/or spectrogram [B, 1, F, W] -> outputs [B, ...]."""
        face = None if face is None else face.unsqueeze(1)
        spectrogram = None if spectrogram is None else spectrogram.unsqueeze(1)
        outputs, hidden = self(face, spectrogram, hidden)
        return {key: value.squeeze(1) for key, value in outputs.items()}, hidden

    def _initial_hidden(self, hidden: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        if hidden is None:
            return like.new_zeros(self.hidden_shape(like.shape[0]))
        return require_hidden(
            hidden, self.hidden_layers, like.shape[0], self.hidden_units, self.title
        )


def run_stream(frame: nn.Module, gru: nn.GRU, x: torch.Tensor, hidden: torch.Tensor):
    """x [B, T, C, H, W] -> (GRU outputs [B, T, units], hidden [layers, B, units])."""
    batch, time = x.shape[0], x.shape[1]
    features = frame(x.flatten(0, 1)).unflatten(0, (batch, time))
    return gru(features, hidden)


class MTVGGRNN(RecurrentModel):
    """``frame`` (same parameter names as MT-VGG's ``trunk``) -> ``gru`` -> dropout -> ``heads``.

    ``modality`` "face" reads ``face``; "audio" reads ``spectrogram`` and has no face input.
    """

    hidden_layers = GRU_LAYERS
    hidden_units = GRU_UNITS

    def __init__(
        self,
        modality: str,
        input_shape: tuple[int, int, int],
        width: float,
        dropout: float,
        batch_norm: bool = False,
        mirror_average: bool = False,
    ) -> None:
        super().__init__()
        self.tasks = TASKS
        self.modality = modality
        self.uses_audio = modality == "audio"
        self.title = "audio MT-VGG-RNN" if self.uses_audio else "MT-VGG-RNN"
        self.face_shape = None if self.uses_audio else tuple(input_shape)
        self.spectrogram_shape = tuple(input_shape) if self.uses_audio else None
        self.frame = VGGTrunk(
            input_shape,
            width,
            pool_to=SPECTROGRAM_POOL if self.uses_audio else None,
            batch_norm=batch_norm,
            mirror_average=mirror_average,
        )
        self.gru = nn.GRU(self.frame.out_features, GRU_UNITS, GRU_LAYERS, batch_first=True)
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.heads = TaskHeads(GRU_UNITS, self.tasks)

    def forward(
        self,
        face: torch.Tensor | None,
        spectrogram: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """face [B, T, C, S, S] (or spectrogram [B, T, 1, F, W] for the audio model) -> outputs [B, T, ...]."""
        if self.uses_audio:
            x = require(spectrogram, "spectrogram", self.spectrogram_shape, "B,T", self.title)
        else:
            x = require(face, "face", self.face_shape, "B,T", self.title)
        features, hidden = run_stream(self.frame, self.gru, x, self._initial_hidden(hidden, x))
        return self.heads(self.dropout(features)), hidden

    def load_frame_weights(self, state_dict: dict[str, torch.Tensor]) -> list[str]:
        """Initialise the CNN part from an MT-VGG checkpoint's state dict (its ``trunk.*``; a
        bare trunk or an MT-VGG-RNN's ``frame.*`` work too). Returns the keys loaded here."""
        prefix = next(
            (p for p in ("trunk.", "frame.") if any(k.startswith(p) for k in state_dict)), ""
        )
        return copy_weights(self, state_dict, {"frame.": prefix}, "MT-VGG")


def copy_weights(
    model: nn.Module, state: dict[str, torch.Tensor], prefixes: dict[str, str], source: str
) -> list[str]:
    """Copy ``state[src + rest]`` into ``model``'s ``dst + rest`` for every ``dst -> src`` in
    ``prefixes``. All keys and shapes are checked before anything is copied, so a wrong source
    leaves the model untouched. Returns the model's keys that were loaded."""
    own = model.state_dict()
    pairs = []
    for dst, src in prefixes.items():
        for key in (k for k in own if k.startswith(dst)):
            src_key = src + key[len(dst) :]
            if src_key not in state:
                raise AvaffectError(
                    f"{source} weights lack {src_key!r}; is it a {source} checkpoint?"
                )
            if tuple(state[src_key].shape) != tuple(own[key].shape):
                raise AvaffectError(
                    f"{source} weights {src_key!r} have shape {list(state[src_key].shape)}, this model needs "
                    f"{list(own[key].shape)}; was it built with another width or input size?"
                )
            pairs.append((key, src_key))
    with torch.no_grad():
        for key, src_key in pairs:
            own[key].copy_(state[src_key])
    return [key for key, _ in pairs]


def mt_vgg_rnn(
    width: float = 1.0,
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
    batch_norm: bool = False,
    mirror_average: bool = False,
) -> MTVGGRNN:
    """``batch_norm`` must match the MT-VGG whose weights initialise the CNN; with
    ``mirror_average`` the GRU reads the mean features of each face and its mirror image at
    inference (see VGGTrunk)."""
    shape = face_input_shape(face_size, in_channels)
    return MTVGGRNN("face", shape, width, dropout, batch_norm, mirror_average)


# A full-band 1 s spectrogram (728 x 44) is 3.5 times a 96x96 face: the lite audio stream
# halves the width again so that it costs about what the lite face stream does.
def mt_vgg_rnn_audio(
    width: float = 1.0,
    dropout: float = 0.4,
    spectrogram_shape: list[int] | None = None,
    batch_norm: bool = False,
) -> MTVGGRNN:
    """``batch_norm`` (VGG16-BN convs) as for the face models: from scratch on a CPU budget it
    converges in a fraction of the steps; the A/V model it initialises must match it."""
    shape = SpectrogramConfig().shape if spectrogram_shape is None else spectrogram_shape
    return MTVGGRNN("audio", spectrogram_input_shape(shape), width, dropout, batch_norm)
