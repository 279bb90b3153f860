"""Whole corpora: many videos and images analysed in N processes or on a Ray cluster,
each into its own folder, resumable, with one index of the lot. See docs/corpus.md.

The names below are imported on first use, so that `avaffect --help` stays instant.
"""

from __future__ import annotations

from avaffect.lazy import lazy_exports

_EXPORTS = {
    "find_inputs": "inputs",
    "Input": "inputs",
    "run_corpus": "runner",
    "analyze_corpus": "runner",
    "CorpusRun": "runner",
    "Job": "job",
    "run_job": "job",
    "read_index": "index",
    "index_dataframe": "index",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
