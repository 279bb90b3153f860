"""The one interface every engine backend implements, and the pieces they all share.

An :class:`Engine` runs the *single-step* form of a model for a batch of faces: it takes the
face crops (and spectrograms) of one frame plus the hidden state of those faces and returns
the outputs and the new state. It never keeps hidden state of its own, so a caller (the
real-time tracker) decides which face's state goes where with :meth:`State.take`.

Tasks a model lacks (single-task models) come back as NaN columns, so every consumer sees
the same shapes whatever the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.labels import NUM_AUS, NUM_EXPRESSIONS
from avaffect.record import FaceResult

# The names of the exported single-step graph's inputs and outputs (ONNX and TensorRT alike).
FACE_INPUT = "face"
SPECTROGRAM_INPUT = "spectrogram"
HIDDEN_INPUT = "hidden"
VA_OUTPUT = "valence_arousal"
AU_OUTPUT = "au_logits"
EXPR_OUTPUT = "expr_logits"
HIDDEN_OUTPUT = "hidden_out"
EMBEDDING_OUTPUT = "embedding"
TASK_OUTPUTS = {"va": VA_OUTPUT, "au": AU_OUTPUT, "expr": EXPR_OUTPUT}


@dataclass(frozen=True)
class EngineSpec:
    """What an engine takes and gives; consumers follow ``face`` and ``audio``, never a guess."""

    model: str
    backend: str
    device: str
    precision: str  # "fp32" | "fp16" | "bf16"
    face: FaceSpec
    audio: SpectrogramConfig | None
    uses_face: bool
    uses_audio: bool
    recurrent: bool
    arcface: bool
    hidden_shape: tuple[int, int] | None  # (layers, units) per face; None for frame models
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    max_faces: int | None  # the engine's batch limit (TensorRT profile); None = any
    #: steps a second a recurrent model was trained at (its GRU's clock); None: every frame
    step_rate: float | None = None

    @property
    def spectrogram_shape(self) -> tuple[int, int, int] | None:
        return None if self.audio is None else self.audio.shape


class State:
    """Hidden state for a batch of faces: row ``i`` belongs to face ``i``.

    ``data`` is ``[layers, N, units]`` float32 and belongs to the backend that made it: a
    numpy array (ONNX Runtime) or a torch tensor, possibly on a GPU (PyTorch, TensorRT), so
    a state that stays with its faces never leaves the device. Frame models carry a state
    with zero layers, so callers need not care whether a model is recurrent.
    """

    __slots__ = ("data", "tag")

    def __init__(self, data: Any, tag: Any = None) -> None:
        if len(data.shape) != 3:
            raise ValueError(f"state must be [layers, faces, units], got shape {tuple(data.shape)}")
        self.data = data
        # Backends that write states into reused buffers mark them, to catch a stale state.
        self.tag = tag

    def __len__(self) -> int:
        return int(self.data.shape[1])

    def __repr__(self) -> str:
        kind = type(self.data).__module__.split(".")[0]
        return f"State(faces={len(self)}, shape={tuple(self.data.shape)}, storage={kind})"

    def take(self, rows: Sequence[int]) -> State:
        """Select and reorder rows; row ``-1`` starts a new face (zeros).

        ``take(range(len(state)))`` returns this very state (no copy), so the common case of
        the same faces in the same order costs nothing.
        """
        index = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = len(self)
        if len(index) == n and np.array_equal(index, np.arange(n)):
            return self
        bad = index[(index < -1) | (index >= n)]
        if len(bad):
            raise AvaffectError(
                f"State.take: row {int(bad[0])} is out of range for a state of {n} faces (use -1 for a new face)"
            )
        keep = np.flatnonzero(index >= 0)
        if _is_torch(self.data):
            return State(_take_torch(self.data, index, keep))
        layers, _, units = self.data.shape
        out = np.zeros((layers, len(index), units), dtype=np.float32)
        out[:, keep] = self.data[:, index[keep]]
        return State(out)

    def numpy(self) -> np.ndarray:
        """The state as host ``[layers, N, units]`` float32 (a copy when it lives on a GPU)."""
        if _is_torch(self.data):
            return self.data.detach().float().cpu().numpy()
        return np.asarray(self.data, dtype=np.float32)


def _is_torch(data: Any) -> bool:
    return type(data).__module__.startswith("torch")


def _take_torch(data: Any, index: np.ndarray, keep: np.ndarray) -> Any:
    import torch  # only reached when the state already is a torch tensor

    layers, _, units = data.shape
    out = data.new_zeros((layers, len(index), units))
    if len(keep):
        source = torch.as_tensor(index[keep], device=data.device)
        out[:, torch.as_tensor(keep, device=data.device)] = data.index_select(1, source)
    return out


@dataclass
class Outputs:
    """Host numpy outputs, one row per face. Tasks the model lacks are NaN columns."""

    valence_arousal: np.ndarray  # [N, 2] in [-1, 1]
    au_probs: np.ndarray  # [N, 8], sigmoid applied
    expr_probs: np.ndarray  # [N, 7], softmax applied
    embedding: np.ndarray | None = None  # [N, d] for ArcFace models
    expr_scores: np.ndarray | None = None  # [N, 7] ArcFace cosine scores (logits / scale)

    def __len__(self) -> int:
        return len(self.valence_arousal)

    def rows(self, index: slice | Sequence[int]) -> Outputs:
        """These rows only: one frame's or one stream's share of a batch (views for a slice,
        copies for a list of rows)."""
        return Outputs(
            valence_arousal=self.valence_arousal[index],
            au_probs=self.au_probs[index],
            expr_probs=self.expr_probs[index],
            embedding=None if self.embedding is None else self.embedding[index],
            expr_scores=None if self.expr_scores is None else self.expr_scores[index],
        )

    @classmethod
    def empty(cls, embedding_dim: int | None = None) -> Outputs:
        """Outputs for zero faces (what ``step`` returns for an empty frame)."""
        f32 = np.float32
        return cls(
            valence_arousal=np.zeros((0, 2), f32),
            au_probs=np.zeros((0, NUM_AUS), f32),
            expr_probs=np.zeros((0, NUM_EXPRESSIONS), f32),
            embedding=None if embedding_dim is None else np.zeros((0, embedding_dim), f32),
            expr_scores=None if embedding_dim is None else np.zeros((0, NUM_EXPRESSIONS), f32),
        )

    def face_results(
        self,
        timestamp: float,
        track_ids: Sequence[int],
        boxes: Sequence[tuple[float, float, float, float]] | None = None,
    ) -> list[FaceResult]:
        """The contract's per-face records for one frame (row ``i`` -> ``track_ids[i]``)."""
        if len(track_ids) != len(self):
            raise AvaffectError(
                f"{len(track_ids)} track ids for {len(self)} faces; pass one per face"
            )
        return [
            FaceResult(
                timestamp=float(timestamp),
                track_id=int(track_id),
                valence=float(self.valence_arousal[i, 0]),
                arousal=float(self.valence_arousal[i, 1]),
                au_probs=self.au_probs[i],
                expr_probs=self.expr_probs[i],
                box=None if boxes is None else tuple(float(v) for v in boxes[i]),
                expression_scores=None if self.expr_scores is None else self.expr_scores[i],
                embedding=None if self.embedding is None else self.embedding[i],
            )
            for i, track_id in enumerate(track_ids)
        ]


@runtime_checkable
class Engine(Protocol):
    """A model ready to run one frame at a time; see the module docstring."""

    spec: EngineSpec

    def init_state(self, n_faces: int) -> State: ...

    def step(
        self, faces: np.ndarray | None, spectrograms: np.ndarray | None, state: State
    ) -> tuple[Outputs, State]: ...


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.asarray(x, np.float32)))).astype(np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def make_outputs(
    raw: dict[str, np.ndarray], n: int, *, arcface_scale: float | None = None
) -> Outputs:
    """Raw graph outputs (keyed by the output names above) -> :class:`Outputs`.

    Missing tasks become NaN columns; ArcFace expression logits are ``scale * cosine``, so
    ``expr_scores`` are the logits divided by the scale.
    """

    def task(name: str, width: int) -> np.ndarray | None:
        value = raw.get(name)
        return None if value is None else np.asarray(value, np.float32).reshape(n, width)

    nan = np.float32("nan")
    va, au, expr = task(VA_OUTPUT, 2), task(AU_OUTPUT, NUM_AUS), task(EXPR_OUTPUT, NUM_EXPRESSIONS)
    embedding = raw.get(EMBEDDING_OUTPUT)
    if embedding is not None:  # unit length, as promised, whatever rounding the graph did
        embedding = np.asarray(embedding, np.float32).reshape(n, -1)
        norms = np.linalg.norm(embedding, axis=1, keepdims=True)
        embedding = embedding / np.maximum(norms, np.float32(1e-12))
    return Outputs(
        valence_arousal=np.full((n, 2), nan, np.float32) if va is None else va,
        au_probs=np.full((n, NUM_AUS), nan, np.float32) if au is None else sigmoid(au),
        expr_probs=np.full((n, NUM_EXPRESSIONS), nan, np.float32)
        if expr is None
        else softmax(expr),
        embedding=embedding,
        expr_scores=None
        if (arcface_scale is None or expr is None)
        else expr / np.float32(arcface_scale),
    )


def check_step_inputs(
    spec: EngineSpec, faces: np.ndarray | None, spectrograms: np.ndarray | None, state: State
) -> int:
    """Validate one ``step`` call against the spec; returns the number of faces N.

    Every way a caller can get it wrong is one clear line, not a shape error deep in a
    backend library.
    """
    n = _check_batch(spec, faces, "faces", spec.face.shape) if spec.uses_face else None
    if spec.uses_audio:
        if spectrograms is None:
            raise AvaffectError(
                f"model {spec.model} needs a spectrogram per face (it is an audio model); "
                "pass spectrograms [N, 1, F, W] from avaffect.audio.spectrogram_windows"
            )
        n_audio = _check_batch(spec, spectrograms, "spectrograms", spec.audio.shape)
        if n is not None and n_audio != n:
            raise AvaffectError(
                f"{n} faces but {n_audio} spectrograms; pass one spectrogram per face"
            )
        n = n_audio
    if n is None:
        raise AvaffectError(f"model {spec.model} takes face crops; pass faces [N, 3, S, S]")
    if len(state) != n:
        raise AvaffectError(
            f"state holds {len(state)} faces but {n} were given; use state.take(rows) "
            "to match the state to this frame's faces"
        )
    if spec.max_faces is not None and n > spec.max_faces:
        raise AvaffectError(
            f"{n} faces exceed this engine's limit of {spec.max_faces}; "
            f"rebuild it with a larger --max-faces or run the faces in chunks"
        )
    return n


def _check_batch(spec: EngineSpec, array: np.ndarray | None, what: str, shape: tuple) -> int:
    if array is None:
        raise AvaffectError(f"model {spec.model} takes {what}; got None")
    if array.ndim != 4 or tuple(array.shape[1:]) != tuple(shape):
        raise AvaffectError(
            f"{what} must have shape [N, {', '.join(map(str, shape))}] for model {spec.model}, "
            f"got {list(array.shape)}"
        )
    return int(array.shape[0])


class StepEngine:
    """Shared ``step`` logic of the backends: validate, handle the empty frame, post-process.

    A backend sets ``spec``, ``arcface_scale`` and ``embedding_dim`` and implements
    :meth:`_zeros` (a zero state in its own storage) and :meth:`_run` (the graph itself).
    """

    spec: EngineSpec
    arcface_scale: float | None = None
    embedding_dim: int | None = None

    def init_state(self, n_faces: int) -> State:
        """A zero state for ``n_faces`` new faces, in the backend's own storage."""
        layers, units = self.spec.hidden_shape or (0, 0)
        return State(self._zeros((layers, int(n_faces), units)))

    def step(
        self, faces: np.ndarray | None, spectrograms: np.ndarray | None, state: State
    ) -> tuple[Outputs, State]:
        n = check_step_inputs(self.spec, faces, spectrograms, state)
        if n == 0:
            return Outputs.empty(self.embedding_dim), state
        raw, new_state = self._run(faces, spectrograms, state)
        return make_outputs(raw, n, arcface_scale=self.arcface_scale), new_state

    def _zeros(self, shape: tuple[int, int, int]) -> Any:
        return np.zeros(shape, np.float32)

    def _run(
        self, faces: np.ndarray | None, spectrograms: np.ndarray | None, state: State
    ) -> tuple[dict[str, np.ndarray], State]:
        raise NotImplementedError

    def __repr__(self) -> str:
        s = self.spec
        return f"{type(self).__name__}({s.model}, backend={s.backend}, device={s.device}, {s.precision})"
