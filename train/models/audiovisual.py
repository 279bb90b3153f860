"""A/V-MT-VGG-RNN: a face stream and a spectrogram stream fused by a GRU.

Each stream is an MT-VGG-RNN without its output layer (CNN -> fc1 -> 2-layer GRU, 128);
their outputs are concatenated (256-d) into a 2-layer fusion GRU (128), then the MT output
layer. The hidden state is one tensor [6, B, 128]: face GRU layers 0-1, audio GRU 2-3,
fusion GRU 4-5. The paper trains in two phases: each stream alone (``mt_vgg_rnn``,
``mt_vgg_rnn_audio``), then the fused net initialised from both (:meth:`load_stream_weights`).
"""

from __future__ import annotations

import torch
from torch import nn

from avaffect.audio import SpectrogramConfig

from .base import TASKS
from .heads import TaskHeads
from .inputs import require
from .options import check_dropout, face_input_shape, spectrogram_input_shape
from .recurrent import (
    GRU_LAYERS,
    GRU_UNITS,
    SPECTROGRAM_POOL,
    RecurrentModel,
    copy_weights,
    run_stream,
)
from .vgg import VGGTrunk


class RecurrentStream(nn.Module):
    """One MT-VGG-RNN without its output layer: CNN on every frame, GRU over time.

    Its ``frame`` and ``gru`` have the same parameter names as MT-VGG-RNN's, so a trained
    stream loads as is."""

    def __init__(self, frame: VGGTrunk) -> None:
        super().__init__()
        self.frame = frame
        self.gru = nn.GRU(frame.out_features, GRU_UNITS, GRU_LAYERS, batch_first=True)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return run_stream(self.frame, self.gru, x, hidden)


class AVMTVGGRNN(RecurrentModel):
    """face_stream + audio_stream -> concatenated (256) -> ``fusion`` GRU -> dropout -> heads."""

    uses_audio = True
    title = "A/V-MT-VGG-RNN"
    hidden_layers = 3 * GRU_LAYERS
    hidden_units = GRU_UNITS

    def __init__(
        self,
        face_shape: tuple[int, int, int],
        spectrogram_shape: tuple[int, int, int],
        width: float,
        audio_width: float,
        dropout: float,
        batch_norm: bool = False,
        audio_batch_norm: bool = False,
        mirror_average: bool = False,
    ) -> None:
        super().__init__()
        self.tasks = TASKS
        self.face_shape = tuple(face_shape)
        self.spectrogram_shape = tuple(spectrogram_shape)
        face_trunk = VGGTrunk(
            face_shape, width, batch_norm=batch_norm, mirror_average=mirror_average
        )
        self.face_stream = RecurrentStream(face_trunk)
        self.audio_stream = RecurrentStream(
            VGGTrunk(
                spectrogram_shape,
                audio_width,
                pool_to=SPECTROGRAM_POOL,
                batch_norm=audio_batch_norm,
            )
        )
        self.fusion = nn.GRU(2 * GRU_UNITS, GRU_UNITS, GRU_LAYERS, batch_first=True)
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.heads = TaskHeads(GRU_UNITS, self.tasks)

    def forward(
        self,
        face: torch.Tensor | None,
        spectrogram: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """face [B, T, 3, S, S] and spectrogram [B, T, 1, F, W] -> outputs [B, T, ...]."""
        face = require(face, "face", self.face_shape, "B,T", self.title)
        spectrogram = require(spectrogram, "spectrogram", self.spectrogram_shape, "B,T", self.title)
        hidden = self._initial_hidden(hidden, face)
        L = GRU_LAYERS
        seen, h_face = self.face_stream(face, hidden[0:L])
        heard, h_audio = self.audio_stream(spectrogram, hidden[L : 2 * L])
        fused, h_fusion = self.fusion(torch.cat([seen, heard], dim=-1), hidden[2 * L : 3 * L])
        return self.heads(self.dropout(fused)), torch.cat([h_face, h_audio, h_fusion], dim=0)

    def load_stream_weights(
        self,
        face_state: dict[str, torch.Tensor] | None = None,
        audio_state: dict[str, torch.Tensor] | None = None,
    ) -> list[str]:
        """Initialise the face stream from an ``mt_vgg_rnn`` state dict and/or the audio stream
        from an ``mt_vgg_rnn_audio`` one (their ``frame.*`` and ``gru.*``; heads are not used).
        Returns the keys loaded here."""
        loaded = []
        if face_state is not None:
            loaded += copy_weights(self, face_state, {"face_stream.": ""}, "MT-VGG-RNN (face)")
        if audio_state is not None:
            loaded += copy_weights(self, audio_state, {"audio_stream.": ""}, "MT-VGG-RNN (audio)")
        return loaded


def av_mt_vgg_rnn(
    width: float = 1.0,
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
    spectrogram_shape: list[int] | None = None,
    audio_width: float | None = None,
    batch_norm: bool = False,
    audio_batch_norm: bool = False,
    mirror_average: bool = False,
) -> AVMTVGGRNN:
    """``audio_width`` (default: ``width``) is the spectrogram stream's width multiplier;
    ``batch_norm`` (face stream) and ``audio_batch_norm`` must match the streams that
    initialise them; ``mirror_average`` averages each face with its mirror image at inference
    (see VGGTrunk; the spectrogram has no mirror)."""
    spec = SpectrogramConfig().shape if spectrogram_shape is None else spectrogram_shape
    face = face_input_shape(face_size, in_channels)
    return AVMTVGGRNN(
        face,
        spectrogram_input_shape(spec),
        width,
        width if audio_width is None else audio_width,
        dropout,
        batch_norm,
        audio_batch_norm,
        mirror_average,
    )
