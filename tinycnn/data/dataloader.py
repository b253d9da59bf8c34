"""``DataLoader``: batches of a data set, in order or shuffled from a seeded generator, as ``torch.utils.data``'s.

Each batch is ``collate_fn([dataset[i] for i in batch_indices])``; the
default, ``default_collate``, stacks the items as PyTorch's does: a batch
of ``(image, label)`` items becomes ``[images (B, ...), labels (B,)]``,
Tensors, the labels int64 when they were Python ints. Where the data set
has ``get_batch(indices)`` (tinycnn/data/dataset.py) and the collate is the
default, the loader asks it for the whole batch at once instead, which
gives the same batch without a Python call per item.

Everything runs in the calling process. Of PyTorch's arguments for worker
processes and devices, those that change only where or how fast batches
are made are accepted and ignored (``num_workers``, ``pin_memory``,
``timeout``, ``worker_init_fn``, ``multiprocessing_context``,
``prefetch_factor``, ``persistent_workers``, ``pin_memory_device``,
``in_order``): the batches are those PyTorch gives with ``num_workers=0``,
where ``worker_init_fn`` is not called either. ``batch_sampler`` and
iterable-style data sets are refused.

``state_dict()`` holds the shuffle generator's state and where the
current epoch is (its order and the batches already given), so that
after ``load_state_dict`` the next ``iter(loader)`` continues the epoch
with the batches that would have come next; a random transform saves its
own state (tinycnn/data/transforms.py).
"""

import collections.abc
import math

import numpy as np

from tinycnn.data.generators import check_generator, generator_state, set_generator_state
from tinycnn.random import default_generator
from tinycnn.tensor import Tensor


def default_collate(items):
    """Stack a list of items into a batch, as ``torch.utils.data.default_collate``.

    Tensors and NumPy arrays of one shape (S...) -> Tensor (B, S...) of their
    dtype; Python ints -> int64 Tensor (B,); floats -> float64; bools ->
    bool; NumPy scalars -> (B,) of their dtype; strings -> a list; tuples and
    lists -> a list of each position collated (a named tuple stays one);
    dicts -> a dict of each key collated.
    """
    first = items[0]
    if isinstance(first, (Tensor, np.ndarray, np.generic)):
        arrays = [np.asarray(item.data if isinstance(item, Tensor) else item) for item in items]
        if len({array.shape for array in arrays}) > 1:
            raise ValueError(f"DataLoader: the default collate stacks the items of a batch, which must have one "
                             f"shape; got shapes {sorted({array.shape for array in arrays})}; give the data set "
                             f"items of one size (e.g. a Resize or crop transform) or a collate_fn of your own")
        return Tensor(np.stack(arrays))
    if isinstance(first, bool):
        return Tensor(np.array(items, dtype=bool))
    if isinstance(first, int):
        return Tensor(np.array(items, dtype=np.int64))
    if isinstance(first, float):
        return Tensor(np.array(items, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(items)
    if isinstance(first, collections.abc.Mapping):
        return {key: default_collate([item[key] for item in items]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a named tuple keeps its type
        return type(first)(*(default_collate(list(column)) for column in zip(*items)))
    if isinstance(first, collections.abc.Sequence):
        if len({len(item) for item in items}) > 1:
            raise ValueError("DataLoader: the default collate needs every item of a batch to have the same number "
                             "of parts")
        return [default_collate(list(column)) for column in zip(*items)]
    raise TypeError(f"DataLoader: the default collate takes Tensors, NumPy arrays, numbers, strings, and dicts, "
                    f"lists and tuples of them; an item holds a {type(first).__name__}; convert it in the data set "
                    f"or its transform (e.g. transforms.ToTensor()), or give a collate_fn")


class DataLoader:
    """Batches of ``dataset``, as ``torch.utils.data.DataLoader`` (with num_workers=0).

    dataset: a map-style data set (``__getitem__`` and ``__len__``).
    batch_size: items per batch; the last batch holds what is left, unless
        ``drop_last``. None gives the items one by one, each converted to
        Tensors but not stacked (PyTorch's automatic batching off).
    shuffle: a new order every epoch (each ``iter(loader)``), a permutation
        drawn from ``generator`` (a ``numpy.random.Generator``; tinycnn's
        default generator if None). The same seed gives the same order,
        though another one than PyTorch's, whose comes from its own generator.
    sampler: instead of ``shuffle``, any iterable of indices, iterated anew
        every epoch.
    collate_fn: makes a batch of a list of items (``default_collate``).
    The other arguments of PyTorch's (``num_workers``, ``pin_memory``, ...)
    are accepted and change nothing: batches are made in this process.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: dataset must be map-style, with __getitem__ and __len__ (a Dataset, "
                            f"TensorDataset or Subset); got {type(dataset).__name__}, and iterable-style data sets "
                            f"are not supported")
        if batch_sampler is not None:
            raise ValueError("DataLoader: batch_sampler is not supported; give batch_size (and shuffle or sampler), "
                             "or a Subset per group of items")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a whole number >= 1 (or None for single items), got "
                             f"{batch_size!r}")
        if shuffle and sampler is not None:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive (the sampler sets the order)")
        if batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None and drop_last=True are mutually exclusive (there are no "
                             "batches to drop)")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a whole number >= 0, got {num_workers!r}")
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, bool(drop_last)
        self.shuffle, self.sampler = bool(shuffle), sampler
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self.generator = check_generator("DataLoader", generator)
        self.num_workers, self.pin_memory = num_workers, pin_memory  # kept to be read back; they change nothing
        self._order = None  # the current epoch's indices, (S,) int64
        self._given = 0  # batches of it already given
        self._resume = False  # load_state_dict asked the next iter() to continue the saved epoch

    def __len__(self):
        count = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return count
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def _new_order(self):
        """This epoch's indices, (S,) int64: the sampler's, a fresh permutation, or 0..S-1."""
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        count = len(self.dataset)
        if self.shuffle:
            return (default_generator() if self.generator is None else self.generator).permutation(count)
        return np.arange(count)

    def __iter__(self):
        if not self._resume:
            self._order, self._given = self._new_order(), 0
        self._resume = False
        return self._batches(self._order)

    def _batches(self, order):
        size = 1 if self.batch_size is None else self.batch_size
        for number in range(self._given, len(self)):
            self._given = number + 1
            indices = order[number * size:(number + 1) * size]
            yield self._fetch(indices)

    def _fetch(self, indices):
        """The batch of ``indices`` (B,) int64: the data set's own if it can make it at once, else collated."""
        if self.batch_size is None:
            return _convert(self.dataset[int(indices[0])])
        get_batch = getattr(self.dataset, "get_batch", None)
        if self.collate_fn is default_collate and get_batch is not None:
            return get_batch(indices)
        return self.collate_fn([self.dataset[int(index)] for index in indices])

    def state_dict(self):
        """{"generator": the shuffle generator's state (None for tinycnn's default generator), "order": this
        epoch's indices (S,) int64 or None before the first epoch, "batches_given": how many of its batches
        were given}."""
        return {"generator": generator_state(self.generator), "order": self._order, "batches_given": self._given}

    def load_state_dict(self, state):
        """Restore ``state_dict()``'s state: the next ``iter(loader)`` gives the saved epoch's remaining batches
        (a new epoch if it was finished), and the shuffles after it are those that would have followed."""
        set_generator_state("DataLoader", self.generator, state["generator"])
        order = state["order"]
        count = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if order is not None and len(order) != count:
            raise ValueError(f"DataLoader.load_state_dict: the saved epoch has {len(order)} indices, this loader "
                             f"gives {count} an epoch; load it into a loader of the same data set")
        self._order = None if order is None else np.asarray(order, dtype=np.int64)
        self._given = int(state["batches_given"])
        self._resume = self._order is not None and self._given < len(self)


def _convert(item):
    """One item with its arrays and numbers as Tensors, not stacked (PyTorch's ``default_convert``)."""
    if isinstance(item, (np.ndarray, np.generic)):
        return Tensor(np.asarray(item))
    if isinstance(item, collections.abc.Mapping):
        return {key: _convert(value) for key, value in item.items()}
    if isinstance(item, tuple) and hasattr(item, "_fields"):
        return type(item)(*(_convert(value) for value in item))
    if isinstance(item, (list, tuple)):
        return [_convert(value) for value in item]
    return item
