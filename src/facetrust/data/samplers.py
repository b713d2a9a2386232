"""Balanced batches: k items per (source domain, class), FLIP's sampling rule.

FLIP (Srivatsan et al., ICCV 2023) draws 3 images per (source domain, class) for every batch, so each
source domain and both classes weigh the same whatever their sizes. Each group is walked through a
fresh permutation and reshuffled when exhausted (an infinite loader per group, as in FLIP's code).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class BalancedBatchSampler(Sampler[list[int]]):
    """Yields ``num_batches`` lists of dataset indices, ``k`` from every group, deterministic for a seed.

    ``groups[i]`` is item i's group key, e.g. ``(domain, label)`` from ``ImageDataset.groups()``.
    Batches list groups in sorted key order. ``set_epoch(e)`` changes the draw (as DistributedSampler).
    """

    def __init__(self, groups: Sequence[Hashable], k: int = 3, seed: int = 0, num_batches: int = 100) -> None:
        if k < 1 or num_batches < 1:
            raise ValueError(f"k ({k}) and num_batches ({num_batches}) must be >= 1")
        if len(groups) == 0:
            raise ValueError("BalancedBatchSampler: no items")
        members: dict[Hashable, list[int]] = {}
        for index, key in enumerate(groups):
            members.setdefault(key, []).append(index)
        self.keys = sorted(members, key=repr)
        self.members = [np.asarray(members[key]) for key in self.keys]
        self.k, self.seed, self.num_batches, self.epoch = k, seed, num_batches, 0

    @property
    def batch_size(self) -> int:
        return self.k * len(self.keys)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        queues = [rng.permutation(m) for m in self.members]
        positions = [0] * len(queues)
        for _ in range(self.num_batches):
            batch: list[int] = []
            for g, members in enumerate(self.members):
                for _ in range(self.k):
                    if positions[g] == len(queues[g]):
                        queues[g], positions[g] = rng.permutation(members), 0
                    batch.append(int(queues[g][positions[g]]))
                    positions[g] += 1
            yield batch
