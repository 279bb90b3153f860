"""Expression names as databases spell them, mapped onto avaffect's order.

Aff-Wild2 headers, image-folder class names ("happy", "surprised", ...) and the like all go
through :func:`expression_index`, so one table decides what "fearful" means.
"""

from __future__ import annotations

from avaffect.labels import EXPRESSIONS

# alias (lower case) -> canonical name in avaffect.labels.EXPRESSIONS
_ALIASES: dict[str, str] = {
    "neutral": "Neutral",
    "neutrality": "Neutral",
    "calm": "Neutral",
    "anger": "Anger",
    "angry": "Anger",
    "disgust": "Disgust",
    "disgusted": "Disgust",
    "fear": "Fear",
    "fearful": "Fear",
    "afraid": "Fear",
    "scared": "Fear",
    "happiness": "Happiness",
    "happy": "Happiness",
    "joy": "Happiness",
    "sadness": "Sadness",
    "sad": "Sadness",
    "surprise": "Surprise",
    "surprised": "Surprise",
}

#: names that some databases use for a class outside our seven: labelled -1 (missing)
OUTSIDE_NAMES = ("other", "contempt", "none", "uncertain")


def expression_index(name: str) -> int | None:
    """Our expression index for a database's class name (case-insensitive), or None if unknown."""
    canonical = _ALIASES.get(name.strip().lower())
    return None if canonical is None else EXPRESSIONS.index(canonical)


def accepted_names() -> list[str]:
    """Every accepted spelling, for error messages."""
    return sorted(_ALIASES)
