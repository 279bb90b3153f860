"""The data order of a run: a function of (seed, epoch) only, so a resumed run can pick up at
the exact batch where the interrupted one stopped.

:class:`ResumableSampler` is a :class:`~torch.utils.data.DistributedSampler` (one process, or
one shard per process under DDP) that can skip the first samples of an epoch and hands each
index out together with a per-sample augmentation seed; :class:`SeededSamples` unpacks that pair
and reseeds the augmentation before reading the sample.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Dataset, DistributedSampler

from avaffect.train.loop.augment import FaceAugment


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """The augmentation seed of the ``position``-th sample of ``epoch`` (position is global,
    counted over all processes, so it does not depend on the number of loader workers)."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])


class ResumableSampler(DistributedSampler):
    """Shuffled per epoch from ``seed + epoch``; yields ``(index, augmentation seed)``.

    ``skip(n)`` drops this process's first ``n`` samples of the current epoch (the resumed
    position); it applies to one pass only.
    """

    def __init__(self, dataset: Dataset, *, num_replicas: int, rank: int, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)
        self._skip = 0

    def skip(self, samples: int) -> None:
        self._skip = samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())
        start, self._skip = self._skip, 0
        for local in range(start, len(indices)):
            position = local * self.num_replicas + self.rank
            yield indices[local], sample_seed(self.seed, self.epoch, position)


class SeededSamples(Dataset):
    """Wraps a dataset so that ``dataset[(index, seed)]`` reseeds the augmentation first."""

    def __init__(self, dataset: Dataset, augment: FaceAugment | None):
        self.dataset = dataset
        self.augment = augment

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        if self.augment is not None:
            self.augment.reseed(seed)
        return self.dataset[index]
