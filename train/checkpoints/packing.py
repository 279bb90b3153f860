"""A trained checkpoint -> a compact copy to share or ship (what `avaffect pack` does).

The copy stores its weights in fp16 (half the bytes of the fp32 training output) or its weight
matrices in int8 (a quarter), loaded back into fp32 parameters by every consumer; with
``mirror_average`` the packed model also averages each face with its mirror image at
inference (an option of the VGG face models, which their training does not change).
"""

from __future__ import annotations

import os
from pathlib import Path

from avaffect.checkpoint import pack_checkpoint, read_config
from avaffect.errors import AvaffectError
from avaffect.shipped import resolve_checkpoint
from avaffect.train.models import model_options


def pack_for_sharing(
    checkpoint: str | os.PathLike, out: str | os.PathLike, *, int8: bool = False, mirror_average: bool = False
) -> tuple[Path, Path]:
    """Write the packed copy of ``checkpoint`` (a path or shipped name) to ``out``;
    (source, written file)."""
    source = resolve_checkpoint(checkpoint)
    out = Path(out)
    if out.resolve() == source.resolve():
        raise AvaffectError(f"--out {out} is the checkpoint itself; write the packed copy elsewhere")
    options = inference_options(source, mirror_average)
    return source, pack_checkpoint(source, out, model_kwargs=options, int8=int8)


def inference_options(checkpoint: Path, mirror_average: bool) -> dict:
    """The model options the packed copy adds, checked against the model's factory."""
    if not mirror_average:
        return {}
    config = read_config(checkpoint)
    if "mirror_average" not in model_options(config.model):
        raise AvaffectError(
            f"{checkpoint}: model {config.model!r} has no mirror_average option (the VGG face "
            "models have it); pack it without --mirror-average"
        )
    return {"mirror_average": True}
