"""Data sets with PyTorch's names (``torch.utils.data``): ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``.

A data set is anything with ``__getitem__(index)`` and ``__len__()``; item
``i`` is usually a tuple ``(input, target)``. ``DataLoader``
(tinycnn/data/dataloader.py) makes batches of them.

Beyond PyTorch, an array-backed data set may have ``get_batch(indices)``:
the whole batch at once, exactly what the loader's default collate would
make of ``[self[i] for i in indices]``, by indexing its arrays with all of
``indices`` instead of item by item. ``TensorDataset`` and ``Subset`` of one
have it; so do the IDX readers (tinycnn/data/datasets.py).
"""

import math
import warnings

import numpy as np

from tinycnn.data.generators import check_generator
from tinycnn.random import default_generator
from tinycnn.tensor import Tensor


class Dataset:
    """The base class: a subclass defines ``__getitem__(index)`` and ``__len__()``, as for ``torch.utils.data``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), returning item `index`")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__(), the number of items")


class TensorDataset(Dataset):
    """Item ``i`` is ``(tensors[0][i], tensors[1][i], ...)``, as ``torch.utils.data.TensorDataset``.

    tensors: tinycnn Tensors or NumPy arrays, all with the same first
    dimension S, e.g. images (S, C, H, W) float32 and labels (S,) int64. A
    Tensor gives Tensor items, an array gives array items (the loader turns
    both into Tensors of the same dtype).
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one Tensor or array, e.g. TensorDataset(images, labels)")
        for position, tensor in enumerate(tensors):
            if not isinstance(tensor, (Tensor, np.ndarray)) or tensor.ndim == 0:
                raise TypeError(f"TensorDataset: argument {position} must be a Tensor or a NumPy array of at least "
                                f"one dimension (its first dimension indexes the items), got "
                                f"{type(tensor).__name__}{' of 0 dimensions' if hasattr(tensor, 'ndim') else ''}")
        sizes = [len(tensor) for tensor in tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: the tensors must have the same first dimension (one row per item), "
                             f"got sizes {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(Tensor(tensor.data[index]) if isinstance(tensor, Tensor) else tensor[index]
                     for tensor in self.tensors)

    def __len__(self):
        return len(self.tensors[0])

    def get_batch(self, indices):
        """[Tensor (B, ...) of each tensor's rows ``indices``]: the loader's batch, indexed all at once."""
        return [Tensor(np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)[indices])
                for tensor in self.tensors]


class Subset(Dataset):
    """The items ``indices`` of ``dataset``, in that order, as ``torch.utils.data.Subset``."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)

    def __getattr__(self, name):
        # the batch path exists only where the parent has one, so the loader asks with getattr
        if name == "get_batch" and hasattr(self.dataset, "get_batch"):
            return self._get_batch
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _get_batch(self, indices):
        # the indices as an array once, not every batch (a list of 60,000 takes milliseconds to convert)
        if self.__dict__.get("_array_of") is not self.indices:
            self._array, self._array_of = np.asarray(self.indices, dtype=np.int64), self.indices
        return self.dataset.get_batch(self._array[indices])


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into ``Subset``s of ``lengths``, as ``torch.utils.data.random_split``.

    lengths: ints summing to ``len(dataset)``, or fractions summing to 1:
    each subset then gets floor(fraction * len(dataset)) items and the items
    left over go one each to the subsets in turn, from the first, as
    PyTorch 2 shares them. The order is a permutation drawn from
    ``generator`` (a ``numpy.random.Generator``; tinycnn's default
    generator if None), so the same seed gives the same split, though
    another one than PyTorch's: its permutation comes from its own
    generator.
    """
    lengths = list(lengths)
    total = len(dataset)
    if lengths and all(isinstance(length, float) for length in lengths) and math.isclose(sum(lengths), 1) \
            and sum(lengths) <= 1:
        if any(not 0 <= fraction <= 1 for fraction in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [math.floor(total * fraction) for fraction in lengths]
        for i in range(total - sum(counts)):  # the remainder, round-robin from the first subset, as PyTorch
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this subset will be empty",
                              stacklevel=2)
        lengths = counts
    if not all(isinstance(length, (int, np.integer)) and not isinstance(length, bool) and length >= 0
               for length in lengths):
        raise ValueError(f"random_split: lengths must be whole numbers >= 0 summing to the data set's length "
                         f"({total}), or fractions summing to 1, got {lengths}")
    if sum(lengths) != total:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the data set has {total} "
                         f"items; give lengths that sum to {total}, or fractions that sum to 1")
    generator = default_generator() if generator is None else check_generator("random_split", generator)
    order = generator.permutation(total)
    starts = np.cumsum([0] + lengths)
    return [Subset(dataset, order[start:start + length].tolist()) for start, length in zip(starts, lengths)]

