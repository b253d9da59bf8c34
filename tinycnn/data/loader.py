"""A seeded batch loader over in-memory arrays."""

import math

from tinycnn.random import default_generator


class BatchLoader:
    """Yield (images, labels) batches, transformed, in order or shuffled.

    images: (S, H, W) uint8; labels: (S,) int64.
    Each batch: transform(images[batch]) (B, 1, H, W) float, labels (B,) int64;
    the last batch holds what is left (PyTorch's drop_last=False).
    With ``shuffle`` the order is redrawn from ``generator`` every epoch; the
    study used shuffle=False: the same order every epoch.
    """

    def __init__(self, images, labels, batch_size, transform, shuffle=False, generator=None):
        if len(images) != len(labels):
            raise ValueError(f"BatchLoader: {len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"BatchLoader: batch_size must be >= 1, got {batch_size}")
        self.images, self.labels = images, labels
        self.batch_size, self.transform, self.shuffle = batch_size, transform, shuffle
        self.generator = default_generator() if generator is None else generator

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __iter__(self):
        count = len(self.images)
        order = self.generator.permutation(count) if self.shuffle else None
        for start in range(0, count, self.batch_size):
            batch = slice(start, start + self.batch_size) if order is None else order[start:start + self.batch_size]
            # a copy (a slice would be a view): writable, as the kernels were compiled for; a view of a read-only
            # array, such as idx2numpy's, would make Numba compile the transform's kernels again for it
            images = self.images[batch].copy() if order is None else self.images[batch]
            yield self.transform(images), self.labels[batch]
