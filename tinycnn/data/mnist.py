"""Loading an MNIST-layout data set: four IDX files in one directory.

Works for MNIST and for any data set with the same file names and layout
(e.g. Fashion-MNIST). Each file may be gzipped (``NAME.gz``) or raw
(``NAME``). If the directory holds a ``SHA256SUMS`` file, as the shipped
``data/mnist`` does, every file is checked against it.
"""

from pathlib import Path

import numpy as np

from tinycnn.data.idx import DataError, read_idx_and_digest

MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", 3),
    "train_labels": ("train-labels-idx1-ubyte", 1),
    "test_images": ("t10k-images-idx3-ubyte", 3),
    "test_labels": ("t10k-labels-idx1-ubyte", 1),
}
IMAGE_SIZE = 28
NUM_CLASSES = 10


def read_checksums(data_dir):
    """{file name: sha256} from ``data_dir/SHA256SUMS`` (``sha256sum`` format), or {} if absent."""
    sums_path = data_dir / "SHA256SUMS"
    if not sums_path.exists():
        return {}
    checksums = {}
    for number, line in enumerate(sums_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{sums_path}: line {number} is not '<sha256>  <file name>': {line!r}")
        checksums[parts[1].lstrip("*")] = parts[0].lower()
    return checksums


def find_file(data_dir, name):
    """``data_dir/NAME.gz`` if it exists, else ``data_dir/NAME``; a clear error if neither does."""
    for candidate in (data_dir / f"{name}.gz", data_dir / name):
        if candidate.exists():
            return candidate
    raise DataError(f"{data_dir / name}[.gz]: file not found (looked for {name}.gz and {name} in {data_dir})")


def load_mnist(data_dir):
    """Read the four files of ``data_dir``.

    Returns a dict with ``train_images`` (60000, 28, 28) uint8, ``train_labels``
    (60000,) int64, ``test_images`` (10000, 28, 28) uint8, ``test_labels``
    (10000,) int64 (counts as in the files), and ``sha256``: {file name:
    SHA-256 of its decompressed bytes}, which names the data in a record
    wherever the folder is. Raises DataError naming the file and what is
    wrong with it.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data directory not found")
    checksums = read_checksums(data_dir)
    arrays, paths, digests = {}, {}, {}
    for key, (name, ndim) in MNIST_FILES.items():
        path = find_file(data_dir, name)
        arrays[key], digests[name] = read_idx_and_digest(path, ndim, checksums.get(name))
        paths[key] = path
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) == 0:
            raise DataError(f"{paths[f'{split}_images']}: holds no images; the {split} set needs at least one")
        if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(
                f"{paths[f'{split}_images']}: images are {images.shape[1]}x{images.shape[2]}, "
                f"the models expect {IMAGE_SIZE}x{IMAGE_SIZE}"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{paths[f'{split}_labels']}: {len(labels)} labels for {len(images)} images in "
                f"{paths[f'{split}_images'].name}; the two files do not belong together"
            )
        if len(labels) and labels.max() >= NUM_CLASSES:
            raise DataError(
                f"{paths[f'{split}_labels']}: label {int(labels.max())} found, labels must be 0..{NUM_CLASSES - 1}"
            )
        arrays[f"{split}_labels"] = labels.astype(np.int64)
    arrays["sha256"] = digests
    return arrays
