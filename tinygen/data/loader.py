"""A seeded, shuffling mini-batch iterator whose every batch is a pure function of (seed, step).

The order of epoch e is the permutation drawn by a generator seeded with (seed, e), so it depends
on nothing else: not on tinygen's global random stream, not on how many batches were drawn
before. That is what makes resuming exact: a loader restored from ``state_dict()`` (the epoch and
the position within it) hands out the very batches an uninterrupted run would have seen, and
``batch_at(step)`` gives the batch of any global step directly.
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import backend as B


class DataLoader:
    """Mini-batches of host arrays sharing their first dimension.

    ``DataLoader(x, y, batch_size=64)`` yields tuples ``(x_batch, y_batch)``. One pass of ``for``
    is one epoch (from the current position to the end of the epoch), as in PyTorch; the loader
    remembers where it is, so the next ``for`` starts the next epoch. ``drop_last`` (the default,
    unlike PyTorch) drops the final short batch so every step sees ``batch_size`` examples.
    Arrays stay on the host; the training loop moves each batch to its device.
    """

    def __init__(self, *arrays: Any, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True) -> None:
        if not arrays:
            raise ValueError("DataLoader: give at least one array")
        self.arrays = tuple(B.to_host(a) for a in arrays)
        lengths = [len(a) if getattr(a, "ndim", 0) > 0 else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            raise ValueError(f"DataLoader: the arrays must share their first dimension, got shapes "
                             f"{[getattr(a, 'shape', None) for a in self.arrays]}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, B.np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, B.np.integer)) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative integer, got {seed!r}")
        self.n = lengths[0]
        self.batch_size, self.shuffle, self.seed, self.drop_last = int(batch_size), shuffle, int(seed), drop_last
        if len(self) == 0:
            raise ValueError(f"DataLoader: {self.n} examples make no batch of {self.batch_size}"
                             + (" with drop_last=True" if drop_last else ""))
        self.epoch = 0  # the epoch the next batch belongs to
        self.position = 0  # how many batches of that epoch have been handed out
        self._order: tuple[int, Any] | None = None  # (epoch, its permutation), the last one computed

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(self.n, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    # --------------------------------------------------------------------------- the order
    def permutation(self, epoch: int) -> Any:
        """The order of the examples in ``epoch``: a pure function of (seed, epoch)."""
        if not self.shuffle:
            return B.np.arange(self.n)
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, B.np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._order[1]

    def _batch(self, epoch: int, index: int) -> tuple[Any, ...]:
        rows = self.permutation(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        return tuple(a[rows] for a in self.arrays)

    def batch_at(self, step: int) -> tuple[Any, ...]:
        """The batch of global step ``step`` (0-based, counted across epochs)."""
        if isinstance(step, bool) or not isinstance(step, (int, B.np.integer)) or step < 0:
            raise ValueError(f"DataLoader.batch_at: step must be a non-negative integer, got {step!r}")
        epoch, index = divmod(int(step), len(self))
        return self._batch(epoch, index)

    # ----------------------------------------------------------------------- walking it
    @property
    def step(self) -> int:
        """The global step of the next batch."""
        return self.epoch * len(self) + self.position

    def _advance(self) -> None:
        self.position += 1
        if self.position == len(self):
            self.epoch, self.position = self.epoch + 1, 0

    def next_batch(self) -> tuple[Any, ...]:
        """The next batch, rolling over into the next epoch when this one is used up."""
        batch = self._batch(self.epoch, self.position)
        self._advance()
        return batch

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        epoch, start = self.epoch, self.position
        for index in range(start, len(self)):
            batch = self._batch(epoch, index)
            self._advance()  # before yielding, so a checkpoint taken now resumes after this batch
            yield batch

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, int]:
        """Where the loader is (epoch, position) and what it must match on resume (plain ints)."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "batch_size": self.batch_size, "n": self.n}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; the seed, batch size and data size must be the saved ones."""
        for key in ("seed", "batch_size", "n"):
            if key in state and int(state[key]) != getattr(self, key):
                raise ValueError(f"DataLoader.load_state_dict: the state has {key}={int(state[key])}, "
                                 f"this loader {key}={getattr(self, key)}; resuming would change the batches")
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position < len(self):
            raise ValueError(f"DataLoader.load_state_dict: epoch {epoch}, position {position} is outside "
                             f"an epoch of {len(self)} batches")
        self.epoch, self.position = epoch, position

    def __repr__(self) -> str:
        return (f"DataLoader(n={self.n}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last}, epoch={self.epoch}, position={self.position})")
