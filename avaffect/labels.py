"""Label names and their order: the one place every model, loader and sink takes them from.

The order is Aff-Wild2's. Other databases map their labels onto it in their loaders.
"""

AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")
EXPRESSIONS: tuple[str, ...] = (
    "Neutral",
    "Anger",
    "Disgust",
    "Fear",
    "Happiness",
    "Sadness",
    "Surprise",
)
VA: tuple[str, ...] = ("valence", "arousal")

NUM_AUS = len(AUS)
NUM_EXPRESSIONS = len(EXPRESSIONS)

# Aff-Wild2 marks a missing annotation with these values; losses and metrics skip them.
INVALID_VA = -5.0
INVALID_LABEL = -1


def labels_dict() -> dict[str, list[str]]:
    """The label order as stored in every checkpoint, so a mismatch is caught on load."""
    return {"va": list(VA), "au": list(AUS), "expr": list(EXPRESSIONS)}
