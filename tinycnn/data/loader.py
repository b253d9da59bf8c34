"""The experiments' batch loader: a ``DataLoader`` over pictures in memory, with a transform of whole batches."""

from tinycnn.data.dataloader import DataLoader
from tinycnn.data.datasets import ImageDataset
from tinycnn.random import default_generator


class BatchTransform:
    """A transform of whole batches (``Augment``, ``Normalize``: (N, H, W) -> (N, 1, H, W)) in the two forms the
    data sets call (tinycnn/data/transforms.py): ``batch(images)`` is the transform, ``self(image)`` runs it on a
    batch of one."""

    def __init__(self, transform):
        self.batch = transform

    def __call__(self, image):
        return self.batch(image[None])[0]


class BatchLoader(DataLoader):
    """Yield (images, labels) batches of arrays, transformed, in order or shuffled.

    images: (S, H, W) uint8; labels: (S,) int64.
    Each batch: transform(images[batch]) (B, 1, H, W) float, labels (B,) int64;
    the last batch holds what is left (PyTorch's drop_last=False).
    With ``shuffle`` the order is redrawn from ``generator`` every epoch; the
    study used shuffle=False: the same order every epoch. A ``DataLoader``
    whose batches are NumPy arrays, as the training loop (tinycnn/train.py)
    takes them.
    """

    def __init__(self, images, labels, batch_size, transform, shuffle=False, generator=None):
        if len(images) != len(labels):
            raise ValueError(f"BatchLoader: {len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"BatchLoader: batch_size must be >= 1, got {batch_size}")
        super().__init__(ImageDataset(images, labels, BatchTransform(transform)), batch_size, shuffle=shuffle,
                         generator=default_generator() if generator is None else generator)
        self.images, self.labels, self.transform = images, labels, transform

    def __iter__(self):
        for images, labels in super().__iter__():
            yield images.data, labels.data
