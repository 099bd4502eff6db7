"""Where the randomness of a training item comes from, and how the epoch reaches it.

Every random choice of an item (which augmentation, which ``m_edit``, which eraser, dilation or
colour reference) is drawn from its own generator, seeded by hashing ``(seed, stream, epoch,
index, purpose)`` with :class:`numpy.random.SeedSequence`: never by adding offsets, so two
purposes, two items or two epochs never share a stream. A given ``(seed, epoch)`` is reproducible
whatever the number of loader workers or DDP ranks, and a new epoch draws new augmentations.

The epoch reaches the dataset through the *index* itself: :class:`EpochSampler` yields
``(epoch, index)`` keys, which the loader hands to ``dataset[key]`` in whichever worker process
builds the item (persistent workers included). It is a :class:`~torch.utils.data.DistributedSampler`,
so under DDP Lightning keeps it (instead of wrapping it) and calls its ``set_epoch`` at the start of
every epoch, as it does for its own samplers; each rank gets its share of every epoch.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

__all__ = ["ItemDraws", "EpochSampler", "split_key", "stable_code"]


def stable_code(text: str) -> int:
    """A process-independent integer for a name (Python's ``hash`` is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


def split_key(key: Any) -> tuple[int, int]:
    """``(epoch, index)`` from a dataset key: an ``int`` index (epoch 0) or an ``(epoch, index)`` pair."""
    if isinstance(key, (tuple, list)):
        if len(key) != 2:
            raise TypeError(f"expected an index or an (epoch, index) pair, got {key!r}")
        return int(key[0]), int(key[1])
    if isinstance(key, torch.Tensor):
        key = key.tolist()
        return split_key(key) if isinstance(key, list) else (0, int(key))
    return 0, int(key)


class ItemDraws:
    """The random streams of one item: ``generator(purpose)`` gives an independent
    ``torch.Generator`` for each named purpose.

    Args:
        seed: the run's seed (a DataModule's ``seed`` for training, ``data_seed`` for evaluation).
        epoch: the epoch (evaluation items always use 0, so they are fixed).
        index: the item's index in its dataset.
        stream: a name separating datasets that share a seed (e.g. ``"train"`` and ``"val"``).

    Example:
        >>> a = ItemDraws(0, epoch=1, index=5).generator("eraser")
        >>> b = ItemDraws(0, epoch=1, index=5).generator("eraser")
        >>> torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
        True
    """

    def __init__(self, seed: int, epoch: int, index: int, stream: str = "train") -> None:
        if min(seed, epoch, index) < 0:
            raise ValueError(f"seed, epoch and index must be >= 0, got {seed}, {epoch}, {index}")
        self.entropy = (int(seed), stable_code(stream), int(epoch), int(index))

    def seed(self, purpose: str) -> int:
        """A 63-bit seed for ``purpose`` (e.g. for albumentations or numpy)."""
        state = np.random.SeedSequence([*self.entropy, stable_code(purpose)]).generate_state(2, np.uint32)
        return (int(state[0]) << 31) ^ int(state[1])

    def generator(self, purpose: str) -> torch.Generator:
        """A fresh ``torch.Generator`` for ``purpose``."""
        return torch.Generator().manual_seed(self.seed(purpose))


class EpochSampler(DistributedSampler):
    """Shuffles ``range(len(dataset))`` anew every epoch and yields ``(epoch, index)`` keys.

    Every index appears once per epoch across all ranks (plus, as with any
    :class:`~torch.utils.data.DistributedSampler`, up to ``world_size - 1`` repeats to even out the
    ranks when the length is not a multiple of the world size). The permutation of an epoch is
    drawn from ``(seed, epoch)`` by hashing, like every item draw.

    Args:
        dataset: a map-style dataset accepting ``(epoch, index)`` keys.
        shuffle: permute each epoch (else the natural order).
        seed: permutation seed.
        num_replicas, rank: DDP layout; default: the initialised process group, else one process.

    Example:
        >>> s = EpochSampler(range(4), seed=0); s.set_epoch(3)
        >>> sorted(i for _, i in s), {e for e, _ in s}
        ([0, 1, 2, 3], {3})
    """

    def __init__(
        self, dataset, shuffle: bool = True, seed: int = 0, num_replicas: int | None = None, rank: int | None = None
    ) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if distributed else 1
        if rank is None:
            rank = dist.get_rank() if distributed else 0
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        n = len(self.dataset)
        if self.shuffle:
            g = ItemDraws(self.seed, self.epoch, 0, stream="sampler").generator("permutation")
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        pad = self.total_size - n
        while pad > 0:  # even out the ranks, as DistributedSampler does
            order += order[:pad]
            pad = self.total_size - len(order)
        return iter([(self.epoch, i) for i in order[self.rank : self.total_size : self.num_replicas]])
