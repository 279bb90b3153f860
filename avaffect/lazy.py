"""Package names imported on first use (PEP 562), so that building the command line, which
imports every stage's cli module and therefore its package, does not import torch, OpenCV or
ONNX: ``avaffect --help`` stays instant."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


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
