"""kernels/fast/threads.py's run_in_parts: every part runs once, with its index, on kernels compiled apart."""

import numpy as np
from numba import njit

from tinycnn.kernels.fast.threads import _type_key, run_in_parts


@njit(cache=True)
def _mark_images(images, seen, part, n_parts):
    """Each part marks its run of images with its own number, and counts how often it was called.

    images: (N,), written; seen: (n_parts,) int64, added to
    """
    N = images.shape[0]
    seen[part] += 1
    for n in range(part * N // n_parts, (part + 1) * N // n_parts):
        images[n] = part
    return True


def test_every_part_runs_once_on_its_own_run_of_images():
    images, seen = np.full(10, -1.0), np.zeros(3, dtype=np.int64)
    run_in_parts(_mark_images, 10, 3, images, seen)
    assert seen.tolist() == [1, 1, 1]
    assert images.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]  # part * 10 // 3: runs of 3, 3 and 4


def test_fewer_images_than_threads_gives_fewer_parts():
    images, seen = np.full(2, -1.0), np.zeros(8, dtype=np.int64)
    run_in_parts(_mark_images, 2, 8, images, seen)
    assert seen.tolist() == [1, 1, 0, 0, 0, 0, 0, 0] and images.tolist() == [0, 1]
    empty, seen = np.zeros(0), np.zeros(1, dtype=np.int64)
    run_in_parts(_mark_images, 0, 4, empty, seen)  # no images: one part, with nothing to do
    assert seen.tolist() == [1]


def test_each_kind_of_argument_gets_its_own_compiled_kernel():
    """float32 and float64, contiguous or not: each is typed and compiled apart, never run as another's."""
    for images in (np.full(6, -1.0, dtype=np.float32), np.full(6, -1.0), np.full(12, -1.0)[::2]):
        seen = np.zeros(2, dtype=np.int64)
        run_in_parts(_mark_images, 6, 2, images, seen)
        assert images.tolist() == [0, 0, 0, 1, 1, 1] and seen.tolist() == [1, 1]


def test_arguments_of_other_types_are_told_apart_as_numba_types_them():
    assert _type_key((1, 2)) != _type_key((1.5, 2.5))  # a tuple is keyed by its Numba type, not by being a tuple
    assert _type_key(2**63) != _type_key(1)  # Numba types the first uint64
    assert _type_key(np.float32(1)) != _type_key(1.0) and _type_key(True) != _type_key(1)
