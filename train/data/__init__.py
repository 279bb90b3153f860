"""Training databases in their published layouts, all returning one sample contract.

Every dataset's ``[i]`` is a dict of numpy arrays: ``"face"`` float32 [3, S, S] in [-1, 1]
(``[T, 3, S, S]`` for sequences), ``"spectrogram"`` [1, F, W] only when opened with
``audio=SpectrogramConfig(...)``, and always ``"va"`` [2] (-5 missing), ``"au"`` [8] (-1
missing), ``"expr"`` int64 (-1 missing), in avaffect.labels' order (see :mod:`.base`).

Loaders: Aff-Wild2 frames and sequences (:mod:`.affwild2`), FER2013 and its pseudo-video
(:mod:`.pseudo_video`), AffectNet, RAF-DB, an expression image folder, and
:func:`write_synthetic_affwild2` for a small database in the Aff-Wild2 layout.
:func:`open_dataset` opens any of them by name.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from avaffect.lazy import lazy_exports

_EXPORTS = {
    "open_dataset": "registry",
    "dataset_names": "registry",
    "AffectDataset": "base",
    "AffWild2Frames": "affwild2",
    "AffWild2Sequences": "affwild2",
    "FER2013": "fer2013",
    "FER2013PseudoVideo": "pseudo_video",
    "AffectNet": "affectnet",
    "RAFDB": "rafdb",
    "ImageFolder": "imagefolder",
    "write_synthetic_affwild2": "synthetic",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
