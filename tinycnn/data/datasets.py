"""Data sets read from IDX files: MNIST and every set shipped in its layout, of any image size and class count.

``ImageDataset(images, labels, transform=None)`` holds pictures and labels
already in memory. ``IDXDataset(root, train=True, transform=None, target_transform=None)``
reads one split: a file of images (S, H, W) and one of labels (S,), each
raw or gzipped (``NAME`` or ``NAME.gz``), checked against ``root/SHA256SUMS``
if there is one (tinycnn/data/mnist.py). By default the names are MNIST's
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-...``),
which Fashion-MNIST and KMNIST ship too; ``files=`` gives others. The files
are looked for in ``root``, then in ``root/<Name>/raw`` and ``root/<Name>``
(torchvision's layout, with the class's name: ``FashionMNIST``, ...); a
missing file is named with every folder looked in.

``MNIST``, ``FashionMNIST``, ``KMNIST`` and ``EMNIST`` take torchvision's
arguments. ``download=True`` is refused: tinycnn reads only files that are
already there.

Item ``i`` is ``(transform(image), target_transform(label))``: the image a
picture (H, W) uint8 (where torchvision gives a PIL image), the label an
int. ``get_batch`` makes a loader's batch at once: the images indexed with
the whole batch, then the transform's batch form (tinycnn/data/transforms.py),
or the transform image by image if it has none.
"""

from pathlib import Path

import numpy as np

from tinycnn.data.dataset import Dataset
from tinycnn.data.idx import DataError, read_idx_and_digest
from tinycnn.data.dataloader import default_collate
from tinycnn.data.mnist import find_file, read_checksums
from tinycnn.tensor import Tensor

MNIST_NAMES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class ImageDataset(Dataset):
    """Pictures and their labels in memory: item ``i`` is ``(transform(images[i]), target_transform(labels[i]))``.

    images: (S, H, W) uint8; labels: (S,) integers. Attributes: ``data``
    (S, H, W) uint8, ``targets`` (S,) int64.
    """

    def __init__(self, images, labels, transform=None, target_transform=None):
        if len(images) != len(labels):
            raise ValueError(f"{type(self).__name__}: {len(images)} images but {len(labels)} labels")
        self.data, self.targets = images, np.asarray(labels).astype(np.int64, copy=False)
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        image, label = np.array(self.data[index]), int(self.targets[index])  # a writable copy of idx2numpy's view
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def get_batch(self, indices):
        """[images, labels] of ``indices`` (B,): the loader's batch from one indexing of the arrays.

        images: Tensor (B, H, W) uint8 without a transform, else what its
        batch form gives (e.g. (B, C, H, W) float32 after ToTensor);
        labels: Tensor (B,) int64, or the target transform's, item by item.
        """
        images, labels = self.data[indices], self.targets[indices]  # fancy indexing: writable copies
        if self.transform is None:
            images = Tensor(images)
        elif hasattr(self.transform, "batch"):
            images = self.transform.batch(images)
            images = Tensor(images) if isinstance(images, np.ndarray) else images
        else:
            images = default_collate([self.transform(image) for image in images])
        if self.target_transform is not None:
            return [images, default_collate([self.target_transform(int(label)) for label in labels])]
        return [images, Tensor(labels)]


class IDXDataset(ImageDataset):
    """One split of an IDX data set: images (S, H, W) uint8 and labels (S,) int64, both in memory.

    root: the folder of the files. train: the training split, else the test
    split. files: (image file name, label file name) without ``.gz``, if
    not MNIST's. Attributes: ``data`` (S, H, W) uint8, ``targets`` (S,)
    int64, ``classes`` (names, or "0".."K-1" for K = the largest label + 1),
    ``sha256`` {file name: SHA-256 of its decompressed bytes}.
    """

    classes_names = None  # a subclass's class names, in label order

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False, files=None):
        if download:
            raise ValueError(f"{type(self).__name__}: download=True is not supported (tinycnn reads files already on "
                             f"disk); put the IDX files in {root} and pass download=False")
        self.root, self.train = Path(root), train
        image_name, label_name = MNIST_NAMES[bool(train)] if files is None else files
        folder = self._find_folder(image_name)
        checksums = read_checksums(folder)
        self.sha256 = {}
        images_path, labels_path = find_file(folder, image_name), find_file(folder, label_name)
        images, self.sha256[image_name] = read_idx_and_digest(images_path, 3, checksums.get(image_name))
        labels, self.sha256[label_name] = read_idx_and_digest(labels_path, 1, checksums.get(label_name))
        if len(images) != len(labels):
            raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}; "
                            f"the two files do not belong together")
        super().__init__(images, labels, transform, target_transform)
        count = int(self.targets.max()) + 1 if len(self.targets) else 0
        if self.classes_names is not None and count > len(self.classes_names):
            raise DataError(f"{labels_path}: label {count - 1} found, {type(self).__name__} has "
                            f"{len(self.classes_names)} classes (0..{len(self.classes_names) - 1})")
        self.classes = list(self.classes_names) if self.classes_names is not None else [str(k) for k in range(count)]

    def _find_folder(self, image_name):
        """The first of root, root/<Name>/raw, root/<Name> that holds the image file (.gz or raw)."""
        name = type(self).__name__
        folders = [self.root, self.root / name / "raw", self.root / name]
        for folder in folders:
            if (folder / f"{image_name}.gz").exists() or (folder / image_name).exists():
                return folder
        raise DataError(f"{name}: {image_name}[.gz] not found; looked in " + ", ".join(str(f) for f in folders)
                        + " (put the IDX files of the data set in one of them)")


class MNIST(IDXDataset):
    """MNIST's IDX files, torchvision's arguments: ``MNIST(root, train=True, transform=None, ...)``."""

    classes_names = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
                     "8 - eight", "9 - nine"]


class FashionMNIST(IDXDataset):
    """Fashion-MNIST (Zalando): MNIST's file names and layout, 28x28 pictures of 10 kinds of clothing."""

    classes_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"]


class KMNIST(IDXDataset):
    """Kuzushiji-MNIST: MNIST's file names and layout, 28x28 cursive Japanese characters of 10 classes."""

    classes_names = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


class EMNIST(IDXDataset):
    """EMNIST's IDX files of one split: ``EMNIST(root, split="balanced", train=True, ...)``.

    The files are ``emnist-<split>-train-images-idx3-ubyte`` and so on, as
    NIST ships them; their images are stored transposed and are given as
    stored (``image.T`` turns one upright). Classes are "0".."K-1".
    """

    SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")

    def __init__(self, root, split, train=True, transform=None, target_transform=None, download=False):
        if split not in self.SPLITS:
            raise ValueError(f"EMNIST: split must be one of {', '.join(self.SPLITS)}, got {split!r}")
        part = "train" if train else "test"
        files = (f"emnist-{split}-{part}-images-idx3-ubyte", f"emnist-{split}-{part}-labels-idx1-ubyte")
        self.split = split
        super().__init__(root, train, transform, target_transform, download, files)
