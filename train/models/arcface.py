"""The ArcFace networks (MT-ArcRes, MT-ArcVGG): VA and AU heads plus an ArcFace expression head.

Backbone features -> dropout -> {VA head, AU head} and -> fc -> BN -> L2 normalisation: the
embedding (size d). Training scores expressions by the cosine between the embedding and the
normalised class weights W [7, d]; the loss (train/objectives/losses.py) adds the angular margin ``m``
to the true class and multiplies by the scale ``s``. At test time the paper classifies by the
cosine to each class's centre, the normalised mean training embedding: after
:meth:`ArcFaceModel.fit_centres` the "expr" output is ``s * cosine(embedding, centres)``,
before it ``s * cosine(embedding, W)``. The centres are buffers, so they travel in the
checkpoint and in an exported graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from avaffect.errors import AvaffectError
from avaffect.labels import EXPRESSIONS, INVALID_LABEL, NUM_EXPRESSIONS

from .arcres import ARCRES_UNITS, ArcResTrunk
from .base import TASKS, AffectModel
from .heads import TaskHeads
from .inputs import require
from .options import check_dropout, check_positive_int, check_scale_margin, face_input_shape
from .recurrent import copy_weights
from .vgg import VGGTrunk

#: the frame model whose trunk each ArcFace trunk is (what ``load_frame_weights`` asks for)
TRUNK_SOURCES = {VGGTrunk: "MT-VGG", ArcResTrunk: "MT-ArcRes"}


class ArcFaceModel(AffectModel):
    """``trunk`` maps a face [B, C, S, S] to features [B, trunk.out_features]."""

    arcface = True

    def __init__(
        self,
        trunk: nn.Module,
        face_shape: tuple[int, int, int],
        embedding_dim: int,
        scale: float,
        margin: float,
        dropout: float,
    ) -> None:
        super().__init__()
        self.tasks = TASKS
        self.face_shape = tuple(face_shape)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.scale, self.margin = check_scale_margin(scale, margin)
        self.trunk = trunk
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.heads = TaskHeads(trunk.out_features, ("va", "au"))
        self.to_embedding = nn.Sequential(
            nn.Linear(trunk.out_features, embedding_dim), nn.BatchNorm1d(embedding_dim)
        )
        self.arcface_weight = nn.Parameter(torch.empty(NUM_EXPRESSIONS, embedding_dim))
        nn.init.xavier_uniform_(self.arcface_weight)
        self.register_buffer("centres", torch.zeros(NUM_EXPRESSIONS, embedding_dim))
        self.register_buffer("centres_fitted", torch.tensor(False))

    def forward(self, face: torch.Tensor) -> dict[str, torch.Tensor]:
        require(face, "face", self.face_shape, "B", "this ArcFace model")
        features = self.dropout(self.trunk(face))
        out = self.heads(features)
        embedding = F.normalize(self.to_embedding(features), dim=-1)
        # Both scores are computed and one is selected by a tensor, not by Python control
        # flow, so an exported graph follows whether the checkpoint's centres were fitted.
        by_centres = F.linear(embedding, F.normalize(self.centres, dim=-1))
        cosine = torch.where(self.centres_fitted, by_centres, self.arcface_cosine(embedding))
        out["expr"] = self.scale * cosine
        out["embedding"] = embedding
        return out

    def arcface_cosine(self, embedding: torch.Tensor) -> torch.Tensor:
        """Cosine between embeddings [..., d] and the normalised class weights: [..., 7]."""
        return F.linear(F.normalize(embedding, dim=-1), F.normalize(self.arcface_weight, dim=-1))

    def load_frame_weights(self, state_dict: dict[str, torch.Tensor]) -> list[str]:
        """Start the trunk from a trained frame model with the same trunk (an MT-VGG for
        MT-ArcVGG: the paper's ArcVGG is VGG-FACE's convs under an ArcFace head); the heads and
        the embedding start fresh. Keys and shapes are checked first: a wrong source is one
        line and leaves the model untouched. Returns the keys loaded."""
        kind = TRUNK_SOURCES.get(type(self.trunk), "same-trunk")
        return copy_weights(self, state_dict, {"trunk.": "trunk."}, kind)

    @torch.no_grad()
    def closest_classes(self) -> tuple[float, str, str]:
        """The largest cosine between two expressions' ArcFace class weights, and their names.
        Near 1, the classes have collapsed onto one direction (losses.arcface_collapse_loss)."""
        weight = F.normalize(self.arcface_weight.detach().float(), dim=-1)
        cosines = weight @ weight.T - 2.0 * torch.eye(len(weight), device=weight.device)
        best = int(cosines.argmax())
        first, second = divmod(best, len(weight))
        return float(cosines.flatten()[best]), EXPRESSIONS[first], EXPRESSIONS[second]

    @torch.no_grad()
    def fit_centres(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Set each expression's centre to the normalised mean of its training embeddings.

        ``embeddings`` [N, d], ``labels`` [N] class indices; rows labelled -1 (missing
        annotation) are skipped. Every class needs at least one sample.
        """
        embeddings, labels = self._check_fit_inputs(embeddings, labels)
        keep = labels != INVALID_LABEL
        embeddings, labels = F.normalize(embeddings[keep].float(), dim=-1), labels[keep]
        counts = torch.bincount(labels, minlength=NUM_EXPRESSIONS)
        missing = [f"{EXPRESSIONS[i]} ({i})" for i in range(NUM_EXPRESSIONS) if counts[i] == 0]
        if missing:
            raise AvaffectError(
                f"cannot fit class centres: no sample of {', '.join(missing)}; "
                "fit on a set that holds every expression"
            )
        sums = torch.zeros(NUM_EXPRESSIONS, embeddings.shape[1], device=embeddings.device)
        sums.index_add_(0, labels, embeddings)
        self.centres.copy_(F.normalize(sums / counts[:, None], dim=-1))
        self.centres_fitted.fill_(True)

    def _check_fit_inputs(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings, labels = torch.as_tensor(embeddings), torch.as_tensor(labels)
        if embeddings.dim() != 2 or embeddings.shape[1] != self.embedding_dim:
            raise AvaffectError(
                f"fit_centres needs embeddings [N, {self.embedding_dim}], got shape {list(embeddings.shape)}"
            )
        if labels.shape != (embeddings.shape[0],) or labels.is_floating_point():
            raise AvaffectError(
                f"fit_centres needs integer labels [{embeddings.shape[0]}], got {labels.dtype} {list(labels.shape)}"
            )
        labels = labels.to(device=embeddings.device, dtype=torch.long)
        bad = labels[(labels != INVALID_LABEL) & ((labels < 0) | (labels >= NUM_EXPRESSIONS))]
        if bad.numel():
            raise AvaffectError(
                f"fit_centres: label {int(bad[0])} is not an expression index 0..{NUM_EXPRESSIONS - 1} (or -1 for missing)"
            )
        return embeddings, labels


def mt_arcres(
    width: float = 1.0,
    units: Sequence[int] = ARCRES_UNITS,
    embedding_dim: int = 512,
    scale: float = 30.0,
    margin: float = 0.5,
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
) -> ArcFaceModel:
    # s = 30 rather than face recognition's 64: with 7 classes a softmax saturates long before
    check_scale_margin(scale, margin)  # before building the backbone, so a typo fails at once
    shape = face_input_shape(face_size, in_channels)
    return ArcFaceModel(
        ArcResTrunk(shape, width, units), shape, embedding_dim, scale, margin, dropout
    )


def mt_arcvgg(
    width: float = 1.0,
    embedding_dim: int = 512,
    scale: float = 30.0,
    margin: float = 0.5,
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
    batch_norm: bool = False,
    mirror_average: bool = False,
) -> ArcFaceModel:
    """``batch_norm`` and ``mirror_average`` as in mt_vgg (see VGGTrunk): with them the trunk is
    the one an MT-VGG-BN frame model trained, and ``model.init_from`` can start from it."""
    check_scale_margin(scale, margin)
    shape = face_input_shape(face_size, in_channels)
    trunk = VGGTrunk(shape, width, batch_norm=batch_norm, mirror_average=mirror_average)
    return ArcFaceModel(trunk, shape, embedding_dim, scale, margin, dropout)
