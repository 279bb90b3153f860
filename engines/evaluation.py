"""Scoring an engine (any backend, any precision) exactly as `avaffect eval` scores a checkpoint.

The data, the measures and the report are those of :mod:`avaffect.train.evaluation`; only
the predictions come from ``engine.step``, a frame at a time with the GRU state carried
through each sequence, as live use runs it. So `avaffect eval --backend onnxruntime
--precision int8` says whether a faster engine still scores what the checkpoint scores.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from avaffect.checkpoint import read_config
from avaffect.engines.base import Engine, Outputs
from avaffect.shipped import resolve_checkpoint
from avaffect.train.evaluation.evaluate import eval_report, open_eval_data

_TASKS = ("va", "au", "expr")


def _logit(p: np.ndarray) -> np.ndarray:
    """Probabilities back to logits, which the AU measures take (as a model's outputs)."""
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def _as_model_outputs(out: Outputs) -> dict[str, np.ndarray]:
    return {
        "va": out.valence_arousal,
        "au": _logit(out.au_probs),
        "expr": out.expr_probs if out.expr_scores is None else out.expr_scores,
    }


def _step_sequences(engine: Engine, faces, spectrograms) -> dict[str, np.ndarray]:
    """Batches of sequences [B, T, ...] stepped through T, one state row per sequence;
    outputs frame-flat in sequence order ([B * T, ...], as the labels are flattened)."""
    first = faces if faces is not None else spectrograms
    n, steps = first.shape[:2]
    state, parts = engine.init_state(n), []
    for t in range(steps):
        out, state = engine.step(
            None if faces is None else faces[:, t],
            None if spectrograms is None else spectrograms[:, t],
            state,
        )
        parts.append(_as_model_outputs(out))
    return {
        key: np.stack([p[key] for p in parts], axis=1).reshape(n * steps, -1) for key in _TASKS
    }


def engine_predict(
    engine: Engine, data: Dataset, *, batch_size: int = 64, progress: bool = False, desc: str = "eval"
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(outputs, targets) frame-flat, in the order :func:`~avaffect.train.evaluation.predict`
    gives them: sequence by sequence, each sequence's steps in order."""
    spec = engine.spec
    batch_size = min(batch_size, spec.max_faces or batch_size)
    loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    outputs: dict[str, list] = {}
    targets: dict[str, list] = {}
    for batch in tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress):
        batch = {key: value.numpy() for key, value in batch.items()}
        faces = batch.get("face") if spec.uses_face else None
        spectrograms = batch.get("spectrogram") if spec.uses_audio else None
        labels = {key: batch[key] for key in _TASKS if key in batch}
        if spec.recurrent:
            step_outputs = _step_sequences(engine, faces, spectrograms)
            labels = {key: value.reshape(-1, *value.shape[2:]) for key, value in labels.items()}
        else:
            n = len(faces if faces is not None else spectrograms)
            step_outputs = _as_model_outputs(engine.step(faces, spectrograms, engine.init_state(n))[0])
        for key, value in step_outputs.items():
            if not np.isnan(value).all():  # a task the model lacks is NaN: not an output
                outputs.setdefault(key, []).append(value)
        for key, value in labels.items():
            targets.setdefault(key, []).append(value)
    return (
        {key: np.concatenate(chunks) for key, chunks in outputs.items()},
        {key: np.concatenate(chunks) for key, chunks in targets.items()},
    )


def evaluate_engine(
    checkpoint: str,
    engine: Engine,
    dataset: str,
    path: str,
    *,
    split: str = "validation",
    batch_size: int = 64,
    limit: int = 0,
    progress: bool = True,
    options: dict | None = None,
    sequence_length: int = 0,
) -> dict:
    """The report of :func:`~avaffect.train.evaluation.evaluate_checkpoint`, with the
    predictions of ``engine`` (loaded from ``checkpoint``), plus its backend and precision."""
    ckpt_path = resolve_checkpoint(checkpoint)
    cfg = read_config(ckpt_path)
    spec = engine.spec
    scored = open_eval_data(
        cfg, spec.recurrent, spec.uses_audio, dataset, path, split=split, limit=limit,
        options=options, sequence_length=sequence_length,
    )  # fmt: skip
    outputs, targets = engine_predict(
        engine, scored.data, batch_size=batch_size, progress=progress, desc=f"eval {dataset}"
    )
    tasks = tuple(key for key in _TASKS if key in outputs)
    report = eval_report(ckpt_path, cfg, dataset, split, scored, outputs, targets, tasks)
    return {**report, "backend": spec.backend, "precision": spec.precision, "device": spec.device}
