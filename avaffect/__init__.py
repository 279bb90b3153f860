"""avaffect: real-time audio-visual facial affect analysis.

This package is the small shared contract that every stage (train -> engines -> realtime ->
demo) agrees on: label order, the face crop and spectrogram definitions, the per-face
output record and the checkpoint format. The stages themselves install as
``avaffect.train``, ``avaffect.engines``, ``avaffect.realtime`` and ``avaffect.demo``.
"""

from avaffect.errors import AvaffectError
from avaffect.labels import AUS, EXPRESSIONS, NUM_AUS, NUM_EXPRESSIONS

__version__ = "0.1.0"

__all__ = ["AUS", "EXPRESSIONS", "NUM_AUS", "NUM_EXPRESSIONS", "AvaffectError", "__version__"]
