"""The run's metrics: one CSV row per evaluation / epoch end, flushed at once, and the same
scalars to TensorBoard when it is installed.

Columns are ``step, epoch`` then every key seen so far, in first-seen order; a row with a new
key rewrites the (small) file with the wider header, so the CSV always loads as one table.
On resume, rows past the resumed step (written after the last checkpoint by the interrupted
run, and about to be recomputed) are dropped.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

FIXED = ("step", "epoch")


class MetricsLog:
    def __init__(self, out_dir: Path, resume_step: int | None = None, tensorboard: bool = True):
        self.path = Path(out_dir) / "metrics.csv"
        self.columns: list[str] = list(FIXED)
        self.rows: list[dict] = []
        if resume_step is not None and self.path.is_file():
            self._reload(resume_step)
        else:
            self.path.unlink(missing_ok=True)
        self.writer = _tensorboard_writer(Path(out_dir) / "tensorboard") if tensorboard else None

    def _reload(self, resume_step: int) -> None:
        with self.path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            self.columns = list(reader.fieldnames or FIXED)
            self.rows = [row for row in reader if int(row["step"]) <= resume_step]
        self._rewrite()

    def append(self, step: int, epoch: int, values: dict[str, float]) -> None:
        row = {"step": step, "epoch": epoch, **{k: _fmt(v) for k, v in values.items()}}
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new or not self.path.is_file():
            self.columns += new
            self._rewrite()
        else:
            with self.path.open("a", newline="") as handle:
                csv.DictWriter(handle, self.columns).writerow(row)
                handle.flush()
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(key, value, step)
            self.writer.flush()

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _fmt(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def _tensorboard_writer(folder: Path):
    """A SummaryWriter, or None when the tensorboard package is not installed (it is optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(folder))


class LossWindow:
    """Running means of the training loss (and of each task's part) between two metrics rows,
    and the samples per second over the same stretch."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.last_loss, self.last_parts = math.nan, {}
        self.reset()

    def reset(self) -> None:
        self._sum, self._parts, self._count, self._t0 = 0.0, {}, 0, time.perf_counter()

    def add(self, loss: float, parts: dict[str, float]) -> None:
        self._sum += loss
        self._count += 1
        for key, value in parts.items():
            self._parts[key] = self._parts.get(key, 0.0) + float(value)
        self.last_loss, self.last_parts = loss, dict(parts)

    def mean(self) -> float:
        return self._sum / max(1, self._count)

    def part_means(self) -> dict[str, float]:
        return {key: value / max(1, self._count) for key, value in self._parts.items()}

    def rate(self) -> float:
        elapsed = time.perf_counter() - self._t0
        return self._count * self.batch_size / elapsed if elapsed > 0 else 0.0
