"""avaffect: real-time audio-visual facial affect analysis.

This package is the small shared contract that every stage (train -> engines -> realtime ->
demo) agrees on: label order, the face crop and spectrogram definitions, the per-face
output record and the checkpoint format. The stages themselves install as
``avaffect.train``, ``avaffect.engines``, ``avaffect.realtime`` and ``avaffect.demo``.

The Python API (docs/python.md) is imported on first use, so that ``import avaffect`` stays
cheap (no torch until an :class:`Analyzer` is made): ``avaffect.Analyzer``,
``avaffect.analyze_corpus`` (many inputs, as ``avaffect analyze INPUTS --jobs N``),
``avaffect.read_results`` (an output folder as a DataFrame) and ``avaffect.read_index`` (a
corpus index as a DataFrame).
"""

from avaffect.errors import AvaffectError
from avaffect.labels import AUS, EXPRESSIONS, NUM_AUS, NUM_EXPRESSIONS
from avaffect.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Analyzer": "realtime.facade",
    "read_results": "realtime.tables",
    "read_index": "corpus.index",
    "analyze_corpus": "corpus.runner",
}

__all__ = [
    "AUS", "EXPRESSIONS", "NUM_AUS", "NUM_EXPRESSIONS", "AvaffectError", "__version__",
    *_EXPORTS,
]  # fmt: skip

__getattr__ = lazy_exports(__name__, _EXPORTS)
