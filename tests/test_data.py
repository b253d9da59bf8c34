"""Reading IDX files: the shipped data loads and checks out; every kind of damage is named."""

import gzip
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinycnn.data import BatchLoader, DataError, load_mnist, read_idx
from tinycnn.data.mnist import MNIST_FILES

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "mnist"
ISSUE_CHECKSUMS = {  # as given when the data was shipped; SHA256SUMS must say the same
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def idx_bytes(array):
    """An IDX file of unsigned bytes holding ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_dataset(folder, train=12, test=5, gz=True, labels_offset=0):
    """A small data set in the MNIST layout; returns its arrays."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (train, 28, 28)), "train_labels": rng.integers(0, 10, train + labels_offset),
        "test_images": rng.integers(0, 256, (test, 28, 28)), "test_labels": rng.integers(0, 10, test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, (name, _) in MNIST_FILES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


def test_the_shipped_checksums_are_the_published_ones():
    lines = (SHIPPED / "SHA256SUMS").read_text().split("\n")
    recorded = dict(reversed(line.split()) for line in lines if line.strip())
    assert recorded == ISSUE_CHECKSUMS


def test_the_shipped_mnist_loads_with_its_known_shapes():
    data = load_mnist(SHIPPED)
    assert data["train_images"].shape == (60000, 28, 28) and data["train_images"].dtype == np.uint8
    assert data["test_images"].shape == (10000, 28, 28)
    assert data["train_labels"].dtype == np.int64
    assert (data["train_labels"] == 0).sum() == 5923  # the study's 9.87 % of a NaN network
    # idx2numpy's arrays are read-only; the loader's batches are writable copies, as the kernels are compiled for
    # (Numba compiles a kernel again for a read-only array)
    for shuffle in (False, True):
        loader = BatchLoader(data["test_images"][:10], data["test_labels"][:10], 4, lambda images: images, shuffle)
        assert all(images.flags.writeable for images, _ in loader)


@pytest.mark.parametrize("gz", [True, False])
def test_gzipped_and_raw_files_of_any_count_load(tmp_path, gz):
    arrays = write_dataset(tmp_path, gz=gz)
    data = load_mnist(tmp_path)
    for key, array in arrays.items():
        np.testing.assert_array_equal(data[key], array)


def damage(tmp_path, how):
    """Write a small data set, damage its train-images file in one way, return that file."""
    write_dataset(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    good = gzip.decompress(path.read_bytes())
    if how == "not gzip":
        path.write_bytes(good)
    elif how == "truncated gzip":
        path.write_bytes(path.read_bytes()[:200])
    elif how == "corrupt gzip":
        broken = bytearray(path.read_bytes())
        broken[-8] ^= 0xFF  # the CRC
        path.write_bytes(bytes(broken))
    elif how == "bad magic":
        path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + good[4:]))
    elif how == "truncated data":
        path.write_bytes(gzip.compress(good[:-100]))
    elif how == "trailing bytes":
        path.write_bytes(gzip.compress(good + b"\x00" * 7))
    elif how == "empty":
        path.write_bytes(gzip.compress(b""))
    elif how == "missing":
        path.unlink()
    return path


@pytest.mark.parametrize("how, message", [
    ("not gzip", "not a gzip file"),
    ("truncated gzip", "truncated gzip file"),
    ("corrupt gzip", "corrupt gzip file"),
    ("bad magic", "bad IDX magic number 00000801"),
    ("truncated data", r"wrong size: truncated \(9324 bytes, the header's shape \(12, 28, 28\) needs 9424\)"),
    ("trailing bytes", "wrong size: has trailing bytes"),
    ("empty", "truncated IDX file"),
    ("missing", "file not found"),
])
def test_each_kind_of_damage_gets_a_message_naming_the_file(tmp_path, how, message):
    path = damage(tmp_path, how)
    with pytest.raises(DataError, match=message) as error:
        load_mnist(tmp_path)
    assert "train-images-idx3-ubyte" in str(error.value) and str(path.parent) in str(error.value)


def test_images_and_labels_of_different_counts(tmp_path):
    write_dataset(tmp_path, labels_offset=3)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: 15 labels for 12 images"):
        load_mnist(tmp_path)


def test_a_shipped_file_whose_checksum_differs(tmp_path):
    for name in ISSUE_CHECKSUMS:
        shutil.copy(SHIPPED / f"{name}.gz", tmp_path)
    shutil.copy(SHIPPED / "SHA256SUMS", tmp_path)
    data = gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes())
    changed = data[:-1] + bytes([(data[-1] + 1) % 10])  # one label changed: still a valid IDX file
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(changed))
    with pytest.raises(DataError, match=f"t10k-labels-idx1-ubyte.gz: checksum mismatch: SHA-256 of the "
                                        f"decompressed data is {hashlib.sha256(changed).hexdigest()}"):
        load_mnist(tmp_path)


def test_read_idx_checks_the_number_of_dimensions(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(4)))
    assert read_idx(path, 1).shape == (4,)
    with pytest.raises(DataError, match="bad IDX magic"):
        read_idx(path, 3)


def test_the_script_stops_with_one_clear_message_and_writes_nothing(tmp_path):
    damage(tmp_path / "data", "truncated gzip")
    out = tmp_path / "result.json"
    run = subprocess.run([sys.executable, str(REPO / "experiments" / "iter4.py"), "--data-dir", str(tmp_path / "data"),
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "train-images-idx3-ubyte.gz: truncated gzip file" in run.stderr
    assert not out.exists()


@pytest.mark.parametrize("split", ["train", "test"])
def test_a_data_set_with_no_images_is_refused(tmp_path, split):
    """Test files holding zero images gave 'test_acc 0.0 (0/0)' and exit 0."""
    write_dataset(tmp_path, **{split: 0})
    with pytest.raises(DataError, match=f"{split}-images-idx3-ubyte.gz: holds no images; the {split} set needs"
                       if split == "train" else "t10k-images-idx3-ubyte.gz: holds no images; the test set needs"):
        load_mnist(tmp_path)


def test_the_data_is_named_by_the_sha256_of_its_files():
    assert load_mnist(SHIPPED)["sha256"] == ISSUE_CHECKSUMS
