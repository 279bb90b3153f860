"""The base of every options class: plain dataclasses, one per concern, composed by inheritance.

Each concern (the engine, the face detector, the audio, the server...) is one dataclass with
working defaults, declared once. An entrance composes the concerns it needs by inheriting from
them (``class RunOptions(AudioOptions, DetectorOptions, EngineOptions)``), so a field added to
one concern reaches every entrance that composes it, with no copying between classes. A
concern checks its own fields in ``check()``; :class:`Options` runs every class's check once
the whole composition is built.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Options:
    def __post_init__(self) -> None:
        for cls in reversed(type(self).__mro__):
            check = cls.__dict__.get("check")
            if check is not None:
                check(self)

    def narrow(self, cls: type[T]) -> T:
        """The part of this (composed) options object that ``cls`` declares, as a ``cls``:
        e.g. the :class:`RunOptions` a stream is built from, out of a bench's options."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})
