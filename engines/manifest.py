"""The manifest written beside every built engine file, and the rule for when it is stale.

An engine file (ONNX graph, TensorRT plan, torch2trt plan) says nothing about the model
it came from, and a TensorRT plan only runs on the library version and GPU it was built
for. So each is written with ``<file>.manifest.json``: the model and its config, the I/O
spec, the build options, the source checkpoint's sha256, the file's own sha256 and the
versions of the libraries (and the GPU) that matter for that kind of file. Loading compares
the manifest with what is running and with the checkpoint; any difference means rebuild
(or, with ``rebuild=False``, one clear line naming the difference).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from avaffect import __version__ as avaffect_version
from avaffect.audio import SpectrogramConfig
from avaffect.checkpoint import CheckpointConfig, write_atomic
from avaffect.engines.base import EngineSpec
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec

FORMAT = "avaffect-engine"
FORMAT_VERSION = 1
# Bump when the exported single-step graph changes meaning (names, layout, casts), so that
# every cached engine built by an older avaffect is rebuilt rather than misread.
GRAPH_VERSION = 1
ARTIFACTS = ("onnx", "tensorrt", "torch2trt")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, shape (``"N"`` for the dynamic face batch), dtype."""

    name: str
    shape: tuple
    dtype: str  # "float32" | "float16"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: dict) -> TensorSpec:
        return cls(data["name"], tuple(data["shape"]), data["dtype"])


@dataclass
class Manifest:
    """Everything needed to load an engine file and to know whether it is still valid."""

    artifact: str  # one of ARTIFACTS
    file: str  # the engine file's name (the manifest sits beside it)
    file_sha256: str
    model: str
    model_kwargs: dict
    checkpoint_config: dict  # the source checkpoint's whole config (face, audio, labels...)
    source_sha256: str
    source_path: str
    precision: str
    max_faces: int | None
    opset: int | None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    tasks: tuple[str, ...]
    uses_face: bool
    uses_audio: bool
    recurrent: bool
    arcface: bool
    hidden_shape: tuple[int, int] | None
    arcface_scale: float | None = None
    embedding_dim: int | None = None
    versions: dict = field(default_factory=dict)
    gpu: dict | None = None  # TensorRT: {"name": ..., "compute_capability": "9.0"}
    notes: dict = field(default_factory=dict)
    graph_version: int = GRAPH_VERSION
    created: str = ""

    @property
    def face(self) -> FaceSpec:
        return FaceSpec.from_dict(self.checkpoint_config.get("face", {}))

    @property
    def audio(self) -> SpectrogramConfig | None:
        audio = self.checkpoint_config.get("audio")
        return None if audio is None else SpectrogramConfig.from_dict(audio)

    @property
    def step_rate(self) -> float | None:
        """Steps a second the source checkpoint's GRU was trained at (None: every frame)."""
        return CheckpointConfig.from_dict(self.checkpoint_config, self.file).step_rate

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["inputs"] = [t.to_dict() for t in self.inputs]
        data["outputs"] = [t.to_dict() for t in self.outputs]
        data["tasks"] = list(self.tasks)
        data["hidden_shape"] = None if self.hidden_shape is None else list(self.hidden_shape)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict, source: str = "manifest") -> Manifest:
        if data.get("format") != FORMAT:
            raise AvaffectError(
                f"{source}: not an avaffect engine manifest; re-export with `avaffect export`"
            )
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise AvaffectError(
                f"{source}: manifest format is newer than this avaffect understands; upgrade avaffect"
            )
        try:
            fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            fields["inputs"] = tuple(TensorSpec.from_dict(t) for t in data["inputs"])
            fields["outputs"] = tuple(TensorSpec.from_dict(t) for t in data["outputs"])
            fields["tasks"] = tuple(data["tasks"])
            hidden = data.get("hidden_shape")
            fields["hidden_shape"] = None if hidden is None else tuple(hidden)
            return cls(**fields)
        except (KeyError, TypeError) as err:
            raise AvaffectError(
                f"{source}: engine manifest is malformed ({err}); re-export with `avaffect export`"
            ) from None

    def summary(self) -> str:
        """A few lines for people: what this engine is and what it was built from."""
        io = lambda ts: ", ".join(f"{t.name}{list(t.shape)}:{t.dtype}" for t in ts)  # noqa: E731
        versions = ", ".join(f"{k} {v}" for k, v in sorted(self.versions.items()))
        lines = [
            f"model      {self.model} {json.dumps(self.model_kwargs)}",
            f"artifact   {self.artifact} ({self.precision}, max faces {self.max_faces or 'any'}"
            + (f", opset {self.opset})" if self.opset else ")"),
            f"inputs     {io(self.inputs)}",
            f"outputs    {io(self.outputs)}",
            f"source     {self.source_path} (sha256 {self.source_sha256[:12]})",
            f"versions   {versions}",
        ]
        if self.gpu:
            lines.append(
                f"gpu        {self.gpu.get('name')} (compute {self.gpu.get('compute_capability')})"
            )
        return "\n".join(lines)


def manifest_path(engine_file: str | os.PathLike) -> Path:
    return Path(str(engine_file) + ".manifest.json")


def write_manifest(manifest: Manifest, engine_file: str | os.PathLike) -> Path:
    """Write ``<engine_file>.manifest.json`` atomically (stamped with the time of writing)."""
    manifest.created = manifest.created or _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"
    )
    text = json.dumps(manifest.to_dict(), indent=2) + "\n"
    return write_atomic(manifest_path(engine_file), text.encode())


def read_manifest(engine_file: str | os.PathLike) -> Manifest:
    path = manifest_path(engine_file)
    if not path.is_file():
        raise AvaffectError(
            f"{engine_file}: no manifest beside it ({path.name}); engines must be built by "
            "`avaffect export`, or pass the checkpoint instead"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AvaffectError(
            f"{path}: manifest is not valid JSON (file corrupt?); re-export with `avaffect export`"
        ) from None
    return Manifest.from_dict(data, source=str(path))


def verify_file(path: Path, manifest: Manifest) -> None:
    """The file must be the one its manifest describes (not truncated, not replaced)."""
    if not path.is_file():
        raise AvaffectError(f"{path}: engine file not found")
    if manifest.file_sha256 and _file_sha256(path) != manifest.file_sha256:
        raise AvaffectError(
            f"{path}: file does not match its manifest (sha256 differs: corrupt or replaced); "
            "re-export it with `avaffect export`"
        )


def _file_sha256(path: Path) -> str:
    from avaffect.checkpoint import file_sha256  # imports torch: only when a file is checked

    return file_sha256(path)


def library_version(name: str) -> str | None:
    """The library's version: the imported module's own when it is loaded (what really runs),
    else the installed distribution's, without importing the (possibly heavy) library."""
    module = sys.modules.get(name)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    for dist in (name, name.replace("_", "-")):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


#: The libraries whose version decides whether a file of each kind still loads correctly.
#: An ONNX graph is portable across runtimes, so only its producers are recorded (for
#: information); a TensorRT plan is tied to the exact TensorRT build and GPU.
RUNTIME_LIBRARIES = {"onnx": (), "tensorrt": ("tensorrt",), "torch2trt": ("tensorrt",)}
RECORDED_LIBRARIES = ("torch", "onnx", "onnxruntime", "tensorrt", "torch2trt")


def current_versions(extra: dict | None = None) -> dict:
    versions = {"avaffect": avaffect_version}
    for name in RECORDED_LIBRARIES:
        version = library_version(name)
        if version is not None:
            versions[name] = version
    versions.update(extra or {})
    return versions


@dataclass(frozen=True)
class Expected:
    """What a manifest must say for its engine to be reused as is."""

    artifact: str
    precision: str
    max_faces: int | None = None  # None: not part of the artifact (dynamic ONNX)
    opset: int | None = None
    source_sha256: str | None = None  # None: the source checkpoint is not at hand
    versions: dict = field(default_factory=dict)  # running versions of RUNTIME_LIBRARIES
    gpu: dict | None = None  # running GPU, for TensorRT


def mismatches(manifest: Manifest, expected: Expected) -> list[str]:
    """Every way ``manifest`` differs from ``expected``, as short phrases (empty: reuse it)."""
    found = []

    def differs(what: str, have, want) -> None:
        if have != want:
            found.append(f"{what} {have} != {want}")

    differs("artifact", manifest.artifact, expected.artifact)
    differs("graph version", manifest.graph_version, GRAPH_VERSION)
    differs("precision", manifest.precision, expected.precision)
    if expected.max_faces is not None:
        differs("max faces", manifest.max_faces, expected.max_faces)
    if expected.opset is not None:
        differs("opset", manifest.opset, expected.opset)
    if expected.source_sha256 is not None and manifest.source_sha256 != expected.source_sha256:
        found.append("source checkpoint changed (sha256 differs)")
    for name in RUNTIME_LIBRARIES.get(expected.artifact, ()):
        differs(f"{name} version", manifest.versions.get(name), expected.versions.get(name))
    if expected.gpu is not None:
        for key in ("name", "compute_capability"):
            differs(f"GPU {key}", (manifest.gpu or {}).get(key), expected.gpu.get(key))
    return found


def spec_from_manifest(
    manifest: Manifest, backend: str, device: str, max_faces: int | None
) -> EngineSpec:
    """The :class:`EngineSpec` of an engine built from ``manifest``'s file."""
    return EngineSpec(
        model=manifest.model,
        backend=backend,
        device=device,
        precision=manifest.precision,
        face=manifest.face,
        audio=manifest.audio,
        uses_face=manifest.uses_face,
        uses_audio=manifest.uses_audio,
        recurrent=manifest.recurrent,
        arcface=manifest.arcface,
        hidden_shape=manifest.hidden_shape,
        input_names=tuple(t.name for t in manifest.inputs),
        output_names=tuple(t.name for t in manifest.outputs),
        max_faces=max_faces,
        step_rate=manifest.step_rate,
    )
