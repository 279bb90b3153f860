"""The face crop every model sees: 5 landmarks -> similarity transform -> 96x96x3 in [-1, 1].

One implementation, used by the training loaders (for databases that ship raw images) and
by real time alike, so the two cannot drift apart.

Landmark order is the one YuNet and the ArcFace template use, in image coordinates:
the eye on the image's left (the subject's right eye), the eye on the image's right, the
nose tip, the mouth corner on the image's left, the mouth corner on the image's right.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from avaffect.errors import AvaffectError

# The ArcFace 112x112 five-point template (insightface); scaled to the crop size in use.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

# Where FER2013's own faces have their five points, in its 48x48 frame: the median of YuNet's
# landmarks on 1,454 of 1,500 Training faces drawn with seed 0 (upscaled 4x to detect). Its
# faces are cropped tighter and higher than ArcFace's (eyes 18 px apart at y=18, against 15 px
# at y=22), so a model trained on them sees live faces framed the same way only when they are
# aligned onto this template.
FER2013_TEMPLATE_48 = np.array(
    [[14.51, 18.32], [32.73, 18.35], [23.61, 28.50], [16.60, 36.13], [30.98, 36.17]],
    dtype=np.float64,
)

#: template name -> five points in a unit square (x, y in [0, 1] of the crop's side)
TEMPLATES = {"arcface": ARCFACE_TEMPLATE_112 / 112.0, "fer2013": FER2013_TEMPLATE_48 / 48.0}

COLOR_MODES = ("rgb", "gray")


@dataclass(frozen=True)
class FaceSpec:
    """How an image becomes the model's face input; stored in every checkpoint.

    ``color="gray"`` converts the crop to grey and replicates it into three channels: what a
    model trained on a greyscale database (FER2013) saw, so real time must do the same.
    ``template`` names where the five landmarks land in the crop (``TEMPLATES``): the framing
    of the training faces, which live alignment must reproduce.
    """

    size: int = 96
    color: str = "rgb"
    template: str = "arcface"

    def __post_init__(self) -> None:
        if self.color not in COLOR_MODES:
            raise AvaffectError(f"face color mode {self.color!r} is unknown; use one of {COLOR_MODES}")
        if self.template not in TEMPLATES:
            raise AvaffectError(
                f"face template {self.template!r} is unknown; use one of {tuple(TEMPLATES)}"
            )
        if self.size < 16:
            raise AvaffectError(f"face size {self.size} is too small; use at least 16 (default 96)")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FaceSpec:
        return cls(**data)


def template(size: int = 96, name: str = "arcface") -> np.ndarray:
    """The five-point template ``name`` for a ``size`` x ``size`` crop, float64 [5, 2]."""
    if name not in TEMPLATES:
        raise AvaffectError(f"face template {name!r} is unknown; use one of {tuple(TEMPLATES)}")
    return TEMPLATES[name] * size


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transforms (Umeyama, no reflection) mapping ``src`` onto ``dst``.

    ``src`` is [N, K, 2] (or [K, 2]); ``dst`` is [K, 2] or [N, K, 2]. Returns [N, 2, 3]
    (or [2, 3]) affine matrices, vectorised over the batch.
    """
    src = np.asarray(src, np.float64)
    single = src.ndim == 2
    if single:
        src = src[None]
    dst = np.asarray(dst, np.float64)
    if src.ndim != 3 or src.shape[2] != 2 or dst.shape not in (src.shape, src.shape[1:]):
        raise AvaffectError(
            f"similarity needs points [N, K, 2] (or [K, 2]) and matching targets, got {src.shape} -> {dst.shape}"
        )
    dst = np.broadcast_to(dst, src.shape)
    src_mean, dst_mean = src.mean(1, keepdims=True), dst.mean(1, keepdims=True)
    src_c, dst_c = src - src_mean, dst - dst_mean
    # With complex numbers a 2-D similarity is z -> a z + b; the least-squares a is
    # sum(conj(s) d) / sum(|s|^2), which is Umeyama's solution without reflection.
    s = src_c[..., 0] + 1j * src_c[..., 1]
    d = dst_c[..., 0] + 1j * dst_c[..., 1]
    denom = np.maximum((np.abs(s) ** 2).sum(1), 1e-12)
    a = (np.conj(s) * d).sum(1) / denom
    rot = np.stack([np.stack([a.real, -a.imag], -1), np.stack([a.imag, a.real], -1)], 1)
    shift = dst_mean[:, 0, :] - np.einsum("nij,nj->ni", rot, src_mean[:, 0, :])
    out = np.concatenate([rot, shift[..., None]], axis=2)
    return out[0] if single else out


def align_faces(image_bgr: np.ndarray, landmarks: np.ndarray, spec: FaceSpec = FaceSpec()) -> np.ndarray:
    """Cut every face out of one BGR uint8 image: ``landmarks`` [N, 5, 2] -> [N, 3, S, S] in [-1, 1]."""
    image_bgr = np.asarray(image_bgr)
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise AvaffectError(
            f"expected a BGR uint8 image of shape [H, W, 3], got {image_bgr.dtype} {image_bgr.shape}"
        )
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape[-2:] != (5, 2) or landmarks.ndim not in (2, 3):
        raise AvaffectError(f"expected 5 landmarks per face, [N, 5, 2] or [5, 2], got {landmarks.shape}")
    landmarks = landmarks.reshape(-1, 5, 2)
    matrices = estimate_similarity(landmarks, template(spec.size, spec.template))
    crops = np.empty((len(landmarks), spec.size, spec.size, 3), np.uint8)
    for i, matrix in enumerate(matrices):
        crops[i] = cv2.warpAffine(
            image_bgr, matrix, (spec.size, spec.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
    return crops_to_input(crops, spec)


def crops_to_input(crops_bgr: np.ndarray, spec: FaceSpec = FaceSpec()) -> np.ndarray:
    """Already-aligned BGR uint8 crops [N, H, W, 3] (or grey [N, H, W]) -> float32 [N, 3, S, S] in [-1, 1].

    Crops of another size (Aff-Wild2's ``cropped_aligned`` are 112x112) are resized.
    """
    crops = np.asarray(crops_bgr)
    if crops.ndim == 3:  # grey [N, H, W]
        crops = np.repeat(crops[..., None], 3, axis=3)
    if crops.ndim != 4 or crops.shape[3] != 3:
        raise AvaffectError(f"expected face crops of shape [N, H, W, 3], got {crops.shape}")
    if crops.shape[1:3] != (spec.size, spec.size):
        size = (spec.size, spec.size)
        resized = [cv2.resize(c, size, interpolation=cv2.INTER_AREA) for c in crops]
        crops = np.stack(resized) if resized else np.empty((0, *size, 3), crops.dtype)
    if spec.color == "gray":
        grey = crops[..., 0] * 0.114 + crops[..., 1] * 0.587 + crops[..., 2] * 0.299
        chw = np.repeat(grey[:, None], 3, axis=1)
    else:
        chw = crops[..., ::-1].transpose(0, 3, 1, 2)  # BGR -> RGB, NHWC -> NCHW
    return (np.asarray(chw, np.float32) / 127.5 - 1.0).astype(np.float32, copy=False)


def input_to_crops(faces: np.ndarray) -> np.ndarray:
    """Inverse of :func:`crops_to_input` for display: float [N, 3, S, S] -> BGR uint8 [N, S, S, 3]."""
    rgb = np.clip((np.asarray(faces) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb.transpose(0, 2, 3, 1)[..., ::-1])
