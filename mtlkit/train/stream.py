"""Resumable data streams: an endless iterator over a ``DataLoader`` whose position is two integers."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from mtlkit.errors import ConfigError, DataError

__all__ = ["DataStream"]


# --------------------------------------------------------------------------------------------------- data streams
class DataStream:
    """Endless iteration over a ``DataLoader`` whose position is ``(epoch, batches consumed)``.

    Before each epoch the loader's generator is re-seeded from ``(seed, stream_id, epoch)`` (a generator is attached
    if the loader has none; a ``DistributedSampler`` gets ``set_epoch``), so the shuffling of every epoch is a pure
    function of those integers. An exhausted epoch starts the next one (the original AutoMTL code instead skipped
    the task for that iteration). :meth:`load_state_dict` replays the current epoch up to the saved position, which
    loads (and discards) at most one epoch of batches.

    Args:
        loader: the ``DataLoader``. With ``shuffle=True`` its ``RandomSampler`` is driven by the loader's generator.
        seed: base seed of the data order.
        stream_id: distinguishes the streams of one run (e.g. the task index).
        name: used in error messages.
    """

    def __init__(self, loader: DataLoader, seed: int = 0, stream_id: int = 0, name: str = "data"):
        if not isinstance(loader, DataLoader):
            raise ConfigError(f"loader for {name!r} must be a torch DataLoader, got {type(loader).__name__}")
        self.loader, self.seed, self.stream_id, self.name = loader, seed, stream_id, name
        self.epoch, self.position = 0, 0
        self._it = None
        if loader.generator is None:
            loader.generator = torch.Generator()
        if isinstance(loader.sampler, RandomSampler) and loader.sampler.generator is not loader.generator:
            loader.sampler.generator = loader.generator

    @property
    def shards_itself(self) -> bool:
        """True when the loader already gives per-rank batches (a ``DistributedSampler``)."""
        return isinstance(self.loader.sampler, DistributedSampler)

    def _epoch_seed(self, epoch: int) -> int:
        return int(np.random.SeedSequence([self.seed, self.stream_id, epoch]).generate_state(1, np.uint64)[0])

    def _start_epoch(self, epoch: int) -> None:
        self.epoch, self.position = epoch, 0
        self.loader.generator.manual_seed(self._epoch_seed(epoch))
        if isinstance(self.loader.sampler, DistributedSampler):
            self.loader.sampler.set_epoch(epoch)
        self._it = iter(self.loader)

    def next(self) -> Any:
        """The next batch, starting a new epoch when the current one is exhausted."""
        if self._it is None:
            self._start_epoch(self.epoch)
        try:
            batch = next(self._it)
        except StopIteration:
            self._start_epoch(self.epoch + 1)
            try:
                batch = next(self._it)
            except StopIteration:
                raise DataError(f"loader {self.name!r} yields no batches (empty dataset, or drop_last with fewer "
                                f"samples than batch_size)") from None
        self.position += 1
        return batch

    __next__ = next

    def __iter__(self):
        return self

    def state_dict(self) -> dict[str, int]:
        """``{"epoch": e, "position": batches consumed in epoch e}``."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Jump to a saved position: re-create epoch ``e``'s iterator and consume ``position`` batches."""
        epoch, position = int(state["epoch"]), int(state["position"])
        self._start_epoch(epoch)
        for _ in range(position):
            try:
                next(self._it)
            except StopIteration:
                break  # the epoch ended exactly at the checkpoint; next() starts the following one
        self.position = position
