"""The one training loop every network of the paper goes through.

``train(config)`` builds the model (registry), the datasets (``open_dataset``) and the loss
(``MultiTaskLoss``), then steps the optimiser, validating every ``eval_every`` steps (or each
epoch), appending to ``<out>/metrics.csv``, and writing ``<out>/last.safetensors`` (+ its
``.state`` side file for ``resume``) and ``<out>/best.safetensors`` (with ``ema_decay``, the
weights' moving average, which validation then scores). ArcFace nets get their class centres
fitted on the training embeddings at the end.

Exact resume: the data order is a function of (seed, epoch), augmentation is seeded per
sample, and every RNG state is saved, so a run stopped and resumed ends with the same weights
as one that never stopped (bit for bit on CPU; on CUDA as far as its kernels are deterministic,
see ``deterministic``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.errors import AvaffectError
from avaffect.train.checkpoints.checkpointing import (
    rng_state,
    seed_everything,
    set_rng_state,
)
from avaffect.train.checkpoints.run_folder import BEST, LAST, check_out_dir, read_last, save_last
from avaffect.train.checkpoints.run_log import LossWindow, MetricsLog
from avaffect.train.config import TrainConfig, changed_settings, to_toml
from avaffect.train.data import open_dataset
from avaffect.train.evaluation.evaluate import (
    Predicting,
    predict,
    score_outputs,
    select_score,
    sequence_end_metrics,
    spread_subset,
)
from avaffect.train.loop import distributed
from avaffect.train.loop.augment import FaceAugment
from avaffect.train.loop.batches import to_device
from avaffect.train.loop.loss_step import LossStep, build_loss
from avaffect.train.loop.model_setup import build_model, initialise
from avaffect.train.loop.optim import build_optimizer, build_scheduler
from avaffect.train.loop.precision import training_autocast
from avaffect.train.loop.sampling import ResumableSampler, SeededSamples
from avaffect.train.loop.weight_average import WeightAverage
from avaffect.train.objectives.arcface_health import arcface_collapse_warning
from avaffect.train.objectives.centres import fit_centres_in_checkpoints


@dataclass
class StepInfo:
    """What a callback sees after every optimiser step (and its checkpoint, if one was due)."""

    step: int
    epoch: int
    loss: float
    parts: dict[str, float]
    metrics: dict[str, float] | None = None  # validation metrics, when this step validated


@dataclass
class TrainResult:
    model: nn.Module
    out_dir: Path
    step: int
    metrics: dict[str, float] = field(default_factory=dict)  # the last validation's
    best_score: float = math.nan
    last_path: Path | None = None
    best_path: Path | None = None


def train(
    config: TrainConfig,
    *,
    recipe: str = "custom",
    resume: bool = False,
    callbacks: Sequence[Callable[[StepInfo], None]] = (),
    progress: bool = True,
) -> TrainResult:
    """Train ``config`` (``resume``: continue the run in ``config.out`` exactly where its last
    checkpoint left it). Launched by torchrun, every process calls this and DDP is used."""
    ctx = distributed.setup(config.device)
    try:
        return Trainer(config, ctx, recipe=recipe, resume=resume, callbacks=callbacks, progress=progress).run()
    finally:
        distributed.teardown(ctx)


class Trainer:
    """One run's state; :func:`train` is the way in."""

    def __init__(
        self,
        config: TrainConfig,
        ctx: distributed.DistContext,
        *,
        recipe: str,
        resume: bool,
        callbacks: Sequence[Callable[[StepInfo], None]],
        progress: bool,
    ):
        self.out = Path(config.out or Path("runs") / recipe)
        # The run folder is part of the saved config, so `avaffect train <out>/config.toml --resume`
        # finds its way back.
        config = dataclasses.replace(config, out=str(self.out))
        self.config, self.ctx, self.recipe, self.callbacks = config, ctx, recipe, list(callbacks)
        self.progress = progress and ctx.is_main
        self.device = ctx.device
        self.autocast_dtype, self.precision_note = training_autocast(self.device, config.amp, config.cpu_bf16)
        self.use_amp = self.autocast_dtype == torch.float16  # CUDA fp16: needs the gradient scaler
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        check_out_dir(self.out, resume)
        seed_everything(config.seed)  # same initial weights on every rank
        self.model, self.model_kwargs = build_model(config)
        self.init_note = "" if resume else initialise(self.model, config)
        # Channels-last conv weights on CUDA (cuDNN's tensor-core kernels run NHWC natively).
        # On the CPU it made training 1.4x (VGG lite) to 1.6x (ArcRes lite) faster, and the
        # shipped defaults were trained so, but torch 2.13's oneDNN backward segfaulted on a
        # small ArcRes (tests/test_train_stages.py), so the CPU keeps the default layout until
        # that is understood. Checkpoints store contiguous copies either way.
        self.model.to(self.device)
        if self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        self.average = WeightAverage(self.model, config.ema_decay) if config.ema_decay else None
        self.train_set, self.val_set = self._open_datasets()
        self._build_optimisation()
        self.step, self.epoch, self.position = 0, 0, 0
        self.best_score, self.metrics = -math.inf, {}
        self._collapse_warned = False  # the ArcFace collapse warning is printed once a run
        self.window = LossWindow(config.batch_size)  # the loss between two metrics rows
        if resume:
            self._restore()
        if ctx.rank > 0 and not resume:
            seed_everything(config.seed + ctx.rank)  # different dropout masks per process
        self.log = MetricsLog(self.out, resume_step=self.step if resume else None) if ctx.is_main else None

    # ---- setup -------------------------------------------------------------------------------

    def _open_datasets(self):
        cfg, model = self.config, self.model
        reserved = sorted({"sequence", "face", "audio", "augment", "seq_len"} & set(cfg.data.options))
        if reserved:
            raise AvaffectError(
                f"data.options.{reserved[0]} is set by the trainer; use the [face], [audio], [augment] "
                "sections or data.sequence_length instead"
            )
        kwargs = dict(sequence=model.recurrent, face=cfg.face, audio=cfg.audio if model.uses_audio else None)
        if model.recurrent:
            kwargs["seq_len"] = cfg.data.sequence_length
        self.augment = FaceAugment(cfg.augment) if cfg.augment.enabled else None
        train_set = open_dataset(cfg.data.dataset, cfg.data.path, cfg.data.train_split, augment=self.augment,
                                 **kwargs, **cfg.data.options)
        val_set = None
        if cfg.data.val_split:
            val_set = open_dataset(cfg.data.dataset, cfg.data.path, cfg.data.val_split, **kwargs, **cfg.data.options)
            val_set = spread_subset(val_set, cfg.data.val_limit)
        return train_set, val_set

    def _build_optimisation(self) -> None:
        cfg, ctx = self.config, self.ctx
        if cfg.batch_size % ctx.world_size:
            raise AvaffectError(f"batch_size {cfg.batch_size} does not split over {ctx.world_size} processes")
        self.per_rank_batch = cfg.batch_size // ctx.world_size
        self.sampler = ResumableSampler(self.train_set, num_replicas=ctx.world_size, rank=ctx.rank, seed=cfg.seed)
        self.batches_per_epoch = len(self.sampler) // self.per_rank_batch
        if self.batches_per_epoch == 0:
            raise AvaffectError(
                f"the training set has {len(self.train_set)} samples, fewer than one batch of "
                f"{cfg.batch_size}; lower batch_size"
            )
        self.total_steps = cfg.steps or cfg.epochs * self.batches_per_epoch
        self.loss_step = distributed.wrap(LossStep(self.model, build_loss(cfg.loss), self.device), ctx)
        self.optimizer = build_optimizer(self.model.parameters(), cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, self.total_steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.predicting = Predicting(self.device, self.per_rank_batch, cfg.num_workers, ctx, self.use_amp, self.progress)

    def _loader(self) -> DataLoader:
        """This epoch's loader. Its own generator (seeded by the epoch) draws the workers' base
        seed, so creating it does not touch the global RNG that dropout uses."""
        self.sampler.set_epoch(self.epoch)
        self.sampler.skip(self.position * self.per_rank_batch)
        return DataLoader(
            SeededSamples(self.train_set, self.augment), batch_size=self.per_rank_batch, sampler=self.sampler,
            num_workers=self.config.num_workers, drop_last=True, pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.config.seed * 1000003 + self.epoch),
        )

    # ---- the loop ----------------------------------------------------------------------------

    def run(self) -> TrainResult:
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            # The resolved config, loadable as a recipe: `avaffect train <out>/config.toml`.
            (self.out / "config.toml").write_text(to_toml(self.config.to_dict()))
            for note in (self.init_note, self.precision_note):
                if note:
                    print(note)
        bar = tqdm(total=self.total_steps, initial=self.step, desc=self.recipe, unit="step",
                   disable=not self.progress, dynamic_ncols=True)
        self.window.reset()
        self._run_start = (self.step, time.perf_counter())  # samples/s of this process, for the bar
        try:
            while self.step < self.total_steps:
                for batch in self._loader():
                    self._train_step(batch)
                    self._after_step(bar)
                    if self.step >= self.total_steps or self.position == 0:
                        break
        finally:
            bar.close()
            if self.log is not None:
                self.log.close()
        return self._finish()

    def _train_step(self, batch: dict) -> None:
        self.model.train()
        batch = to_device(batch, self.device)
        dtype = self.autocast_dtype
        with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            total, parts = self.loss_step(batch, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.config.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.average is not None:
            self.average.update(self.model)
        loss = float(total.detach())
        if not math.isfinite(loss) and not self.use_amp:
            raise AvaffectError(f"loss became {loss} at step {self.step + 1}; lower optim.lr or set optim.grad_clip")
        self.window.add(loss, parts)
        self.step += 1
        self.position += 1
        if self.position == self.batches_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0

    def _after_step(self, bar: tqdm) -> None:
        finished = self.step >= self.total_steps
        epoch_end = self.position == 0
        metrics = self._validate() if finished or self._due(self.config.eval_every, epoch_end) else None
        if metrics is not None or epoch_end:
            self._log_row(metrics)
        if finished or self._due(self.config.checkpoint_every, False):
            self._save_last()
        bar.update(1)
        run_rate = (self.step - self._run_start[0]) * self.config.batch_size / (time.perf_counter() - self._run_start[1])
        bar.set_postfix(loss=f"{self.window.last_loss:.4f}", samples_s=f"{run_rate:.0f}", refresh=False)
        info = StepInfo(self.step, self.epoch, self.window.last_loss, self.window.last_parts, metrics)
        for callback in self.callbacks:
            callback(info)

    def _due(self, every: int, otherwise: bool) -> bool:
        """Every ``every`` steps; when ``every`` is 0, ``otherwise`` decides."""
        return self.step % every == 0 if every else otherwise

    # ---- validation, logging, checkpoints ----------------------------------------------------

    def _validate(self) -> dict[str, float] | None:
        """Score the validation set; save best.safetensors when the score improved. None (and
        no row) when there is no validation set."""
        if self.val_set is None or len(self.val_set) == 0:
            return None
        scored = self._scored_model()
        outputs, targets = predict(scored, self.val_set, self.predicting, desc="validation")
        self.metrics = score_outputs(outputs, targets)
        if self.model.recurrent:  # also the decision at each sequence's end (per clip on speech)
            self.metrics.update(sequence_end_metrics(outputs, targets, self.config.data.sequence_length))
        if self.ctx.is_main and not self._collapse_warned:
            warning = arcface_collapse_warning(scored)
            if warning:
                tqdm.write(warning)  # above the progress bar, not through it
                self._collapse_warned = True
        score = select_score(self.metrics, self.config.select_metric, self.config.data.dataset, self.model.tasks)
        if math.isfinite(score) and score > self.best_score:
            self.best_score = score
            if self.ctx.is_main:
                self._save_model(self.out / BEST, scored)
        return self.metrics

    def _scored_model(self) -> nn.Module:
        """What validation scores and best.safetensors holds: the weights' average if the run
        keeps one (ema_decay), else the trained weights."""
        return self.average.model if self.average is not None else self.model

    def _log_row(self, metrics: dict[str, float] | None) -> None:
        if self.log is None:
            return
        row = {"train_loss": self.window.mean(), **{f"loss_{k}": v for k, v in self.window.part_means().items()},
               "lr": self.optimizer.param_groups[0]["lr"], "samples_per_s": self.window.rate()}
        if metrics is not None:
            row.update({f"val_{k}": v for k, v in metrics.items()})
        self.log.append(self.step, self.epoch, row)
        self.window.reset()

    def _checkpoint_config(self) -> CheckpointConfig:
        cfg = self.config
        return CheckpointConfig(
            model=cfg.model.name, model_kwargs=self.model_kwargs, face=cfg.face,
            audio=cfg.audio if self.model.uses_audio else None,
            training={"recipe": self.recipe, "dataset": cfg.data.dataset, "path": cfg.data.path,
                      "train_split": cfg.data.train_split, "val_split": cfg.data.val_split,
                      "sequence_length": cfg.data.sequence_length if self.model.recurrent else None,
                      # the clock its GRU learnt: live steps it at this rate (None: every frame)
                      "step_rate": getattr(self.train_set, "step_rate", None) if self.model.recurrent else None,
                      "step": self.step, "epoch": self.epoch, "world_size": self.ctx.world_size,
                      "config": cfg.to_dict()},
            metrics=dict(self.metrics),
        )

    def _save_model(self, path: Path, model: nn.Module) -> None:
        save_checkpoint(path, model.state_dict(), self._checkpoint_config())

    def _save_last(self) -> None:
        """last.safetensors and its state file; a collective (every rank's RNG is gathered)."""
        rngs = distributed.all_gather(self.ctx, rng_state())
        if not self.ctx.is_main:
            return
        state = {
            "step": self.step, "epoch": self.epoch, "position": self.position, "best_score": self.best_score,
            "metrics": dict(self.metrics), "world_size": self.ctx.world_size, "rng": rngs,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }
        if self.average is not None:
            state["average"] = self.average.state_dict()
        save_last(self.out, self.model.state_dict(), self._checkpoint_config(), state)

    def _restore(self) -> None:
        ckpt, state = read_last(self.out, self.ctx.world_size)
        self.recipe = ckpt.config.training.get("recipe", self.recipe)  # also when resumed from config.toml
        changed = changed_settings(ckpt.config.training.get("config", {}), self.config.to_dict())
        if changed and self.ctx.is_main:
            print(f"resuming with changed settings: {', '.join(changed)}")
        self.model.load_state_dict(ckpt.state_dict)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.best_score, self.metrics = state["best_score"], state["metrics"]
        set_rng_state(state["rng"][self.ctx.rank])
        if self.average is not None:  # the run's average, or (ema_decay newly set) one from here
            self.average.load_state_dict(state.get("average", self.model.state_dict()))

    def _finish(self) -> TrainResult:
        last, best = self.out / LAST, self.out / BEST
        if getattr(self.model, "arcface", False) and self.config.fit_centres:
            source = {"dataset": self.config.data.dataset, "split": self.config.data.train_split}
            # each file's centres from its own weights (best's: the average, with ema_decay):
            # the model is loaded with each file's in turn, ending with last's
            fit_centres_in_checkpoints(
                self.model, self.train_set, [p for p in (last, best) if p.is_file()], self.predicting, source
            )
        distributed.barrier(self.ctx)
        return TrainResult(self.model, self.out, self.step, dict(self.metrics), self.best_score,
                           last if last.is_file() else None, best if best.is_file() else None)

