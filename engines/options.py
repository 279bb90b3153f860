"""What loading an engine can be told, and the names it accepts.

Light on purpose (no numpy, no torch): the command line builds its flag groups from these
constants when it starts, and ``avaffect --help`` must stay instant.
"""

from __future__ import annotations

from dataclasses import dataclass

from avaffect.engines.backends import BACKENDS
from avaffect.errors import AvaffectError
from avaffect.options import Options

#: the numeric precisions an engine can run at (int8: ONNX Runtime on the CPU, from a
#: calibrated checkpoint; see avaffect.engines.int8)
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
#: what ``precision`` accepts: ``auto`` is int8 where the checkpoint is calibrated for the
#: ONNX Runtime CPU engine, else fp32 (see :func:`avaffect.engines.loader.choose_precision`)
PRECISION_CHOICES = ("auto", *PRECISIONS)
#: what ``backend`` accepts: ``auto`` picks one (see :func:`avaffect.engines.loader.choose_backend`)
BACKEND_CHOICES = ("auto", *BACKENDS)


@dataclass
class EngineOptions(Options):
    """Which model runs, and on what: the engine of every run-time entrance."""

    checkpoint: str | None = None  # shipped model name or path; None: the shipped default
    backend: str = "auto"
    device: str | None = None  # cpu, cuda or cuda:N; None: the backend's choice
    precision: str = "auto"
    max_faces: int = 8  # most faces per frame (and the face batch of a TensorRT engine)
    #: step a recurrent model on every frame, not at the rate its checkpoint was trained at
    every_frame: bool = False

    def check(self) -> None:
        if self.max_faces < 1:
            raise AvaffectError(f"--max-faces must be at least 1, got {self.max_faces}")
