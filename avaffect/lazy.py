"""Importing on first use, the two ways avaffect does it.

**Dispatch tables** (models, datasets, engine backends, commands) map a name to a *loader*:
a small function that imports the real object from where it is defined and returns it::

    def _torch() -> type:
        from avaffect.engines.backend_torch import TorchEngine
        return TorchEngine

    BACKENDS: dict[str, Loader[type]] = {"torch": _torch, ...}

The object is written as an ordinary import, so a reader, an editor's go-to-definition, ruff
and the floor test (tests/test_floors.py) all see it; nothing is named by a string. Its module
(and the heavy or optional library behind it) is imported only when that name is used.

**Package names** are imported on first use by :func:`lazy_exports` (PEP 562), so that
building the command line, which imports every stage's package, does not import torch, OpenCV
or ONNX: ``avaffect --help`` stays instant.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: A function that imports an object and returns it: the value type of every dispatch table.
Loader = Callable[[], T]


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps a public name to the
    submodule (relative to ``package``) that defines it. Each name is imported once, then
    cached in the package like an ordinary attribute."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
