"""Data: reading IDX files, the study's augmentation, and a seeded batch loader."""

from tinycnn.data.augment import MNIST_MEAN, MNIST_STD, Augment, Normalize
from tinycnn.data.idx import DataError, read_idx
from tinycnn.data.loader import BatchLoader
from tinycnn.data.mnist import MNIST_FILES, load_mnist

__all__ = [
    "Augment", "BatchLoader", "DataError", "MNIST_FILES", "MNIST_MEAN", "MNIST_STD",
    "Normalize", "load_mnist", "read_idx",
]
