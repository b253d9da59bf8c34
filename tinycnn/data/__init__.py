"""Data: PyTorch's data API, IDX data sets, the study's augmentation, and the experiments' batch loader.

    from tinycnn.data import DataLoader, Dataset, TensorDataset, random_split, transforms
    from tinycnn.data.datasets import FashionMNIST

``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``, ``DataLoader``
and ``default_collate`` are ``torch.utils.data``'s (dataset.py,
dataloader.py); ``transforms`` is ``torchvision.transforms``'s (Compose,
ToTensor, Normalize, flips, crop, resize, rotation); ``datasets`` holds
the IDX readers (MNIST, FashionMNIST, KMNIST, EMNIST, IDXDataset) and
``ImageDataset`` (pictures already in memory). ``BatchLoader`` is the
experiments' ``DataLoader`` of NumPy batches (loader.py).
``Normalize`` here, not ``transforms.Normalize``, is the study's
evaluation transform on batches (augment.py).
"""

from tinycnn.data import datasets, transforms
from tinycnn.data.augment import MNIST_MEAN, MNIST_STD, Augment, Normalize
from tinycnn.data.dataloader import DataLoader, default_collate
from tinycnn.data.dataset import Dataset, Subset, TensorDataset, random_split
from tinycnn.data.datasets import EMNIST, KMNIST, MNIST, FashionMNIST, IDXDataset, ImageDataset
from tinycnn.data.idx import DataError, read_idx
from tinycnn.data.loader import BatchLoader
from tinycnn.data.mnist import MNIST_FILES, load_mnist

__all__ = [
    "Augment", "BatchLoader", "DataError", "DataLoader", "Dataset", "EMNIST", "FashionMNIST", "IDXDataset",
    "ImageDataset", "KMNIST", "MNIST", "MNIST_FILES", "MNIST_MEAN", "MNIST_STD", "Normalize", "Subset",
    "TensorDataset", "datasets", "default_collate", "load_mnist", "random_split", "read_idx", "transforms",
]
