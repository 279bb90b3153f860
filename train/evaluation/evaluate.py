"""Running a model over a dataset and scoring it the way the paper scores each database.

Used by the trainer (validation, ArcFace centre fitting) and by ``avaffect eval``. Under DDP
every process predicts its own shard (every ``world_size``-th sample, no padding, so nothing
is counted twice) and the shards are gathered before scoring.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from avaffect.checkpoint import CheckpointConfig
from avaffect.errors import AvaffectError
from avaffect.labels import EXPRESSIONS, NUM_EXPRESSIONS
from avaffect.shipped import resolve_checkpoint
from avaffect.train.data import open_dataset
from avaffect.train.data.registry import dataset_parts, has_sequences, loader_class
from avaffect.train.evaluation.metrics import (
    confusion_matrix,
    evaluate_outputs,
    f1_per_class,
    mean_f1,
)
from avaffect.train.loop.batches import forward_batch, targets_of, to_device
from avaffect.train.loop.distributed import DistContext, all_gather, pick_device
from avaffect.train.models import model_from_checkpoint
from avaffect.train.models.base import AffectModel

#: the expression measure each database is reported with in the paper (default: macro F1)
EXPRESSION_MEASURE = {"fer2013": "expr_acc", "rafdb": "expr_mean_diag"}
TASK_MEASURE = {"va": "va_ccc", "au": "au_f1", "expr": "expr_f1"}
SINGLE_PROCESS = DistContext()


def spread_subset(dataset: Dataset, limit: int) -> Dataset:
    """At most ``limit`` samples spread evenly over the dataset (0: all of it). Evenly, not the
    first ones: in a video database the first samples are all one video."""
    if limit <= 0 or limit >= len(dataset):
        return dataset
    return Subset(dataset, np.linspace(0, len(dataset) - 1, limit).round().astype(np.int64).tolist())


class StillsAsSequences(Dataset):
    """A still-image database for a recurrent model: each image a one-frame sequence from a
    zero state, which is the first frame a face gets live. It scores a streaming model on the
    very stills a frame model is scored on (FER2013 PublicTest, say)."""

    sequence = True

    def __init__(self, stills: Dataset) -> None:
        self.stills = stills

    def __len__(self) -> int:
        return len(self.stills)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {key: np.asarray(value)[None] for key, value in self.stills[index].items()}


@dataclass(frozen=True)
class Predicting:
    """How a model is run over a dataset; one run's validation and centre fitting share it."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 64
    num_workers: int = 0
    ctx: DistContext = SINGLE_PROCESS
    amp: bool = False  # fp16 autocast on CUDA
    progress: bool = False


@torch.no_grad()
def predict(
    model: AffectModel,
    dataset: Dataset,
    how: Predicting,
    *,
    keys: tuple[str, ...] = ("va", "au", "expr"),
    desc: str = "eval",
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(outputs, targets) of the whole dataset as frame-flat float32/int64 numpy arrays."""
    device, batch_size, num_workers, ctx, amp, progress = (
        how.device, how.batch_size, how.num_workers, how.ctx, how.amp, how.progress
    )
    shard = Subset(dataset, list(range(ctx.rank, len(dataset), ctx.world_size))) if ctx.enabled else dataset
    # A generator of its own: otherwise creating the loader draws from the global RNG, and how
    # often a run validates would change its dropout masks (and break exact resume).
    loader = DataLoader(shard, batch_size=batch_size, num_workers=num_workers, pin_memory=device.type == "cuda",
                        generator=torch.Generator())
    was_training = model.training
    model.eval()
    outputs: dict[str, list] = {}
    targets: dict[str, list] = {}
    bar = tqdm(loader, desc=desc, unit="batch", leave=False, disable=not (progress and ctx.is_main))
    for batch in bar:
        batch = to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
            out = forward_batch(model, batch)
        for key in keys:
            if key in out:
                outputs.setdefault(key, []).append(out[key].float().cpu().numpy())
        for key, value in targets_of(batch, model.recurrent).items():
            targets.setdefault(key, []).append(value.cpu().numpy())
    model.train(was_training)
    return _gathered(outputs, ctx), _gathered(targets, ctx)


def _gathered(parts: dict[str, list], ctx: DistContext) -> dict[str, np.ndarray]:
    local = {key: np.concatenate(chunks) for key, chunks in parts.items()}
    shards = all_gather(ctx, local)
    return {key: np.concatenate([s[key] for s in shards if key in s]) for key in local}


def headline_measures(dataset_name: str, tasks: tuple[str, ...]) -> list[str]:
    """The metric keys that decide a database's score: CCC for VA, F1 for AU, and for
    expressions accuracy on FER2013, mean diagonal on RAF-DB, F1 elsewhere (Aff-Wild2)."""
    measures = dict(TASK_MEASURE)
    if dataset_name in EXPRESSION_MEASURE:
        measures["expr"] = EXPRESSION_MEASURE[dataset_name]
    return [measures[task] for task in tasks]


def select_score(metrics: dict[str, float], select_metric: str, dataset_name: str, tasks: tuple[str, ...]) -> float:
    """The one number that picks ``best.safetensors``: ``select_metric``, or with ``"auto"`` the
    mean of the headline measures the validation set could compute. NaN if none could."""
    if select_metric != "auto":
        return float(metrics.get(select_metric, math.nan))
    values = [metrics[m] for m in headline_measures(dataset_name, tasks) if m in metrics]
    return float(np.mean(values)) if values else math.nan


def expression_details(outputs: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> dict | None:
    """Per-class F1 and the confusion matrix (rows true, columns predicted), when expressions
    were both predicted and labelled; else None."""
    if "expr" not in outputs or "expr" not in targets or not (targets["expr"] >= 0).any():
        return None
    pred = outputs["expr"].reshape(-1, NUM_EXPRESSIONS).argmax(-1)
    true = targets["expr"].reshape(-1)
    per_class = f1_per_class(pred, true, NUM_EXPRESSIONS)
    return {
        "f1_per_class": {name: (None if np.isnan(v) else float(v)) for name, v in zip(EXPRESSIONS, per_class, strict=True)},
        "confusion_matrix": confusion_matrix(pred, true, NUM_EXPRESSIONS).astype(int).tolist(),
    }


def sequence_end_scores(
    outputs: dict[str, np.ndarray], targets: dict[str, np.ndarray], seq_len: int
) -> dict | None:
    """Expression accuracy and macro F1 at each sequence's last labelled step: on speech
    (crema_d: one clip a sequence) the decision after hearing the whole clip, the measure
    listening tests report, where the per-step scores also count the first tenths of a
    second. None when expressions were not both predicted and labelled."""
    if "expr" not in outputs or "expr" not in targets:
        return None
    true = targets["expr"].reshape(-1, seq_len)
    labelled = true >= 0
    kept = labelled.any(axis=1)
    if not kept.any():
        return None
    last = seq_len - 1 - np.argmax(labelled[:, ::-1], axis=1)
    rows = np.flatnonzero(kept)
    pred = outputs["expr"].reshape(-1, seq_len, NUM_EXPRESSIONS)[rows, last[rows]].argmax(-1)
    true = true[rows, last[rows]]
    per_class = f1_per_class(pred, true, NUM_EXPRESSIONS)
    return {
        "sequences": int(len(rows)),
        "expr_acc": float((pred == true).mean()),
        "expr_f1": mean_f1(pred, true, NUM_EXPRESSIONS),
        "f1_per_class": {name: (None if np.isnan(v) else float(v)) for name, v in zip(EXPRESSIONS, per_class, strict=True)},
    }


def sequence_end_metrics(outputs: dict[str, np.ndarray], targets: dict[str, np.ndarray], seq_len: int) -> dict[str, float]:
    """:func:`sequence_end_scores` as flat metrics, ``end_expr_acc`` and ``end_expr_f1`` (on
    speech, per clip: what the voice's bars measure, and a ``select_metric`` a recipe can
    choose by); empty when they cannot be computed."""
    if "expr" not in targets or len(targets["expr"]) % seq_len:
        return {}
    scores = sequence_end_scores(outputs, targets, seq_len)
    return {} if scores is None else {"end_expr_acc": scores["expr_acc"], "end_expr_f1": scores["expr_f1"]}


def score_outputs(outputs: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> dict[str, float]:
    """The flat metrics dict (avaffect.train.evaluation.metrics), AU outputs being logits."""
    return evaluate_outputs(outputs, targets, au_from_logits=True)


def trained_options(training: dict, dataset: str) -> dict:
    """The dataset options a checkpoint was trained with, if ``dataset`` is the one it was
    trained on (else none: another database's options would not apply)."""
    config = training.get("config") or {}
    options = dict((config.get("data") or {}).get("options") or {})
    trained, dataset = str(training.get("dataset", "")).lower(), dataset.lower()
    if trained == dataset:
        return options
    if dataset in dataset_parts(trained):  # e.g. ravdess of crema_d_ravdess: what applies to it
        accepted = inspect.signature(loader_class(dataset, sequence=True)).parameters
        return {key: value for key, value in options.items() if key in accepted}
    return {}


@dataclass
class EvalData:
    """What a model is scored on: the dataset as opened, and how."""

    data: Dataset
    options: dict  # the dataset options it was opened with, those in effect on this split
    seq_len: int | None  # steps per sequence (recurrent models on sequences)
    stills: bool  # a still-image database, each image a one-frame sequence
    clips_cut: dict | None = None  # clips cut at the sequence length (see clips_cut_short)

    @property
    def sequence(self) -> bool:
        return self.seq_len is not None


def clips_cut_short(opened: Dataset) -> dict | None:
    """How many of a clip corpus's clips run past a sequence and are cut there, or None.

    A per-clip figure is "after hearing all of it" only when no clip is cut; the report says
    when some are, and which ``--sequence-length`` would hold every clip whole."""
    stats = getattr(opened, "stats", {})
    if not stats.get("clips_cropped"):
        return None
    return {
        "clips": int(stats["clips_cropped"]),
        "of": len(opened),
        "seconds": float(stats["sequence_seconds"]),
        "whole_at": int(stats["longest_clip_steps"]),
    }


def open_eval_data(
    cfg: CheckpointConfig,
    recurrent: bool,
    uses_audio: bool,
    dataset: str,
    path: str,
    *,
    split: str = "validation",
    limit: int = 0,
    options: dict | None = None,
    sequence_length: int = 0,
) -> EvalData:
    """Open ``dataset`` as a model of config ``cfg`` is scored on it: with the checkpoint's
    OWN face spec and spectrogram config (and, for a recurrent model, its training sequence
    length), never with a guess; on the database it was trained on, its own dataset options
    are the defaults that ``options`` update."""
    stills = recurrent and not has_sequences(dataset)
    sequence = recurrent and not stills
    kwargs: dict = {"sequence": sequence, "face": cfg.face, "audio": cfg.audio if uses_audio else None}
    if sequence:
        kwargs["seq_len"] = int(sequence_length or cfg.training.get("sequence_length") or 90)
    elif sequence_length:
        what = "a model that scores one frame at a time" if not recurrent else f"{dataset}'s stills"
        raise AvaffectError(
            f"--sequence-length is for a recurrent model on sequences, and this is {what}; drop it"
        )
    dataset_options = {**trained_options(cfg.training, dataset), **(options or {})}
    opened = open_dataset(dataset, path, split, **kwargs, **dataset_options)
    data = spread_subset(StillsAsSequences(opened) if stills else opened, limit)
    # the report lists the options in effect: augmentation a test split ignores is left out
    unused = getattr(opened, "unused_options", ())
    in_effect = {key: value for key, value in dataset_options.items() if key not in unused}
    return EvalData(data, in_effect, kwargs.get("seq_len"), stills, clips_cut_short(opened))


def eval_report(
    checkpoint: Path,
    cfg: CheckpointConfig,
    dataset: str,
    split: str,
    scored: EvalData,
    outputs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    tasks: tuple[str, ...],
) -> dict:
    """The JSON-able report of one scoring run (what `avaffect eval` prints)."""
    metrics = score_outputs(outputs, targets)
    return {
        "checkpoint": str(checkpoint),
        "model": cfg.model,
        "dataset": dataset,
        "split": split,
        "options": scored.options,
        "samples": len(scored.data),
        "sequence_length": scored.seq_len,
        "note": "each still a one-frame sequence from a zero GRU state" if scored.stills else "",
        "frames": int(len(next(iter(targets.values())))) if targets else 0,
        "headline": {m: metrics[m] for m in headline_measures(dataset, tasks) if m in metrics},
        "metrics": metrics,
        "expression": expression_details(outputs, targets),
        "sequence_end": sequence_end_scores(outputs, targets, scored.seq_len) if scored.sequence else None,
        "clips_cut": scored.clips_cut,
    }


def evaluate_checkpoint(
    checkpoint: str,
    dataset: str,
    path: str,
    *,
    split: str = "validation",
    batch_size: int = 64,
    limit: int = 0,
    device: str = "auto",
    num_workers: int = 0,
    progress: bool = True,
    options: dict | None = None,
    sequence_length: int = 0,
) -> dict:
    """Score a checkpoint on a database the way the paper reports it; a JSON-able report.

    See :func:`open_eval_data` for how the data is read. ``sequence_length`` (0: the
    training length) sets a recurrent model's steps per sequence, so that two models trained
    on different lengths can be scored on the same sequences.
    """
    ckpt_path = resolve_checkpoint(checkpoint)
    model, ckpt = model_from_checkpoint(ckpt_path)
    scored = open_eval_data(
        ckpt.config, model.recurrent, model.uses_audio, dataset, path, split=split, limit=limit,
        options=options, sequence_length=sequence_length,
    )  # fmt: skip
    torch_device = pick_device(device)
    how = Predicting(torch_device, batch_size, num_workers, progress=progress)
    outputs, targets = predict(model.to(torch_device), scored.data, how, desc=f"eval {dataset}")
    return eval_report(ckpt_path, ckpt.config, dataset, split, scored, outputs, targets, model.tasks)
