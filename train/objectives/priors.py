"""Published priors that turn an expression label into soft AU and valence/arousal targets.

FER2013 labels expressions only. To give the default models' AU and VA heads a signal on it,
each expression label is mapped through two tables taken from the literature (written here
once, in avaffect.labels' order: rows EXPRESSIONS, columns AUS / VA):

AU prior: Du, Tao & Martinez (2014), "Compound facial expressions of emotion", PNAS 111(15),
E1454-E1462, Table 1 (FACS coding of 230 subjects). For each basic emotion it lists the
*prototypical* AUs (used by more than 70% of the subjects) and *variants* (AUs used by some
subjects only; the table's percentages for them range from about 25% to 67%). Restricted to
our 8 AUs (AU1, 2, 4, 6, 12, 15, 20, 25):

=========== ============================== ============================ =====================
emotion     prototypical (Table 1)         variants (Table 1)           kept here (1.0 / 0.5)
=========== ============================== ============================ =====================
Happy       12, 25                         6                            AU12, AU25 / AU6
Sad         4, 15                          1, 6, 11, 17                 AU4, AU15 / AU1, AU6
Fearful     1, 4, 20, 25                   2, 5, 26                     AU1, 4, 20, 25 / AU2
Angry       4, 7, 24                       10, 17, 23                   AU4 / -
Surprised   1, 2, 25, 26                   5                            AU1, 2, 25 / -
Disgusted   9, 10, 17                      4, 24                        - / AU4
=========== ============================== ============================ =====================

Neutral is the face with no action unit active (FACS's definition of the neutral face), so
its row is all zeros. A prototypical AU gets probability 1.0 (the table's threshold is 70% of
subjects, and these AUs define the category). A variant gets 0.5: the middle of the 25-67%
range the table reports for variants, i.e. "as likely present as not" rather than any one
percentage; the BCE loss then pulls the AU's probability towards 0.5 and never makes the
model certain of an AU the expression does not imply. Every AU not listed is 0.

VA prior: Russell & Mehrabian (1977), "Evidence for a three-factor theory of emotions",
Journal of Research in Personality 11(3), 273-294: the pleasure-arousal-dominance (PAD)
placement of emotion terms, on a scale from -1 to +1. The values below (pleasure, arousal) are
those of the terms angry, disgusted, afraid, happy, sad and surprised as reproduced in Gebhard
(2005), "ALMA: a layered model of affect", AAMAS, Table 1, and in the many affective-computing
systems built on it. Pleasure is valence; the PAD scale is already [-1, 1], so the mapping to
avaffect's VA range is the identity. Neutral is the origin of the space (0, 0).
"""

from __future__ import annotations

import numpy as np

from avaffect.labels import AUS, EXPRESSIONS, INVALID_LABEL, INVALID_VA

PROTOTYPICAL = 1.0
VARIANT = 0.5

# expression -> (prototypical AUs, variant AUs) of Du et al. (2014) Table 1, ours only
_AU_SOURCE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Neutral": ((), ()),
    "Anger": (("AU4",), ()),  # also 7, 24 / 10, 17, 23: not among our AUs
    "Disgust": ((), ("AU4",)),  # prototypical 9, 10, 17 / variant 24: not ours
    "Fear": (("AU1", "AU4", "AU20", "AU25"), ("AU2",)),  # variants 5, 26: not ours
    "Happiness": (("AU12", "AU25"), ("AU6",)),
    "Sadness": (("AU4", "AU15"), ("AU1", "AU6")),  # variants 11, 17: not ours
    "Surprise": (("AU1", "AU2", "AU25"), ()),  # prototypical 26, variant 5: not ours
}

# expression -> (valence, arousal): Russell & Mehrabian (1977) pleasure and arousal
_VA_SOURCE: dict[str, tuple[float, float]] = {
    "Neutral": (0.0, 0.0),
    "Anger": (-0.51, 0.59),  # "angry"
    "Disgust": (-0.60, 0.35),  # "disgusted"
    "Fear": (-0.64, 0.60),  # "afraid"
    "Happiness": (0.81, 0.51),  # "happy"
    "Sadness": (-0.63, -0.27),  # "sad"
    "Surprise": (0.40, 0.67),  # "surprised"
}


def _au_table() -> np.ndarray:
    table = np.zeros((len(EXPRESSIONS), len(AUS)), np.float32)
    for row, name in enumerate(EXPRESSIONS):
        prototypical, variants = _AU_SOURCE[name]
        for au in prototypical:
            table[row, AUS.index(au)] = PROTOTYPICAL
        for au in variants:
            table[row, AUS.index(au)] = VARIANT
    return table


#: [7, 8] float32: P(AU active | expression), rows EXPRESSIONS, columns AUS
AU_PRIOR = _au_table()
#: [7, 2] float32: (valence, arousal) of each expression, rows EXPRESSIONS
VA_PRIOR = np.array([_VA_SOURCE[name] for name in EXPRESSIONS], np.float32)
AU_PRIOR.flags.writeable = False
VA_PRIOR.flags.writeable = False


def _lookup(table: np.ndarray, expr_labels, missing: float) -> np.ndarray:
    labels = np.asarray(expr_labels, np.int64)
    flat = labels.reshape(-1)
    if ((flat < INVALID_LABEL) | (flat >= len(EXPRESSIONS))).any():
        raise ValueError(f"expression labels must be -1 (missing) or 0..{len(EXPRESSIONS) - 1}")
    out = np.full((flat.size, table.shape[1]), missing, np.float32)
    known = flat >= 0
    out[known] = table[flat[known]]
    return out.reshape(*labels.shape, table.shape[1])


def au_prior(expr_labels) -> np.ndarray:
    """Soft AU targets [..., 8] for expression labels [...]; rows of -1 labels are -1 (masked)."""
    return _lookup(AU_PRIOR, expr_labels, INVALID_LABEL)


def va_prior(expr_labels) -> np.ndarray:
    """VA targets [..., 2] for expression labels [...]; rows of -1 labels are -5 (masked)."""
    return _lookup(VA_PRIOR, expr_labels, INVALID_VA)
