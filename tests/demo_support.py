"""What the demo and benchmark tests share: real faces (FER2013) in frames, the YuNet file,
tiny untrained checkpoints and a free local port. Data comes from ../shared/data; tests that
need it skip with the reason when it is absent."""

from __future__ import annotations

import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from avaffect.audio import SpectrogramConfig
from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.realtime.detector_model import SHIPPED_YUNET

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
YUNET = SHIPPED_YUNET  # the face detector inside the package
FER = DATA / "fer2013" / "fer2013_train_publictest.npz"
needs_faces = pytest.mark.skipif(
    not FER.is_file(), reason=f"needs FER2013 in {DATA}"
)

# A small spectrogram keeps the audio-visual test model tiny.
AUDIO = SpectrogramConfig(sample_rate=16000, context_s=0.5)


def fer_faces(n: int = 8) -> np.ndarray:
    """The first ``n`` 48x48 grey FER2013 faces."""
    return np.load(FER)["images"][:n]


def face_frame(
    faces48: list[np.ndarray],
    size: tuple[int, int] = (640, 480),
    side: int = 192,
    shift: int = 0,
) -> np.ndarray:
    """A BGR frame with each 48x48 face upscaled to ``side`` pixels, side by side, centred."""
    w, h = size
    frame = np.full((h, w), 128, np.uint8)
    gap = (w - side * len(faces48)) // (len(faces48) + 1)
    for i, face in enumerate(faces48):
        x = gap + i * (side + gap) + shift
        y = (h - side) // 2
        frame[y : y + side, x : x + side] = cv2.resize(
            face, (side, side), interpolation=cv2.INTER_CUBIC
        )
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def tiny_checkpoint(path: Path, audio_visual: bool = False) -> Path:
    """An untrained model small enough for a 2-core CPU (the outputs are not meaningful,
    but they are deterministic and the GRU state is real)."""
    from avaffect.train.models import create_model

    if audio_visual:
        name, audio = "av_mt_vgg_rnn_lite", AUDIO
        kwargs = {"width": 0.0625, "audio_width": 0.0625, "spectrogram_shape": list(AUDIO.shape)}
    else:
        name, audio, kwargs = "mt_vgg_rnn_lite", None, {"width": 0.0625}
    model = create_model(name, **kwargs)
    return save_checkpoint(
        path, model.state_dict(), CheckpointConfig(model=name, model_kwargs=kwargs, audio=audio)
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
